"""The explain stage through the plugin: a confirmed leak's findings as a user sees them."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
from explain_helpers import PLOTS

RunPytest = Callable[..., pytest.RunResult]


def test_a_registry_leak_is_named_by_its_registry_and_a_closure_weighs_what_it_keeps(
    pytester: pytest.Pytester, run_pytest: RunPytest
) -> None:
    """One run, two leaks of two roots, each explained on its own: a figure kept by a
    registry is named by that registry (not by the module's private caches), and a
    closure is weighed with the buffer it keeps."""
    pytester.makepyfile(
        plots=PLOTS,
        test_plots="""
        import plots

        def test_opens_a_figure_and_never_closes_it():
            plots.figure()
        """,
        test_handlers="""
        HANDLERS = []

        def test_keeps_a_buffer_in_a_closure():
            buf = bytearray(64 * 1024)
            HANDLERS.append(lambda: len(buf))
        """,
    )

    result = run_pytest("--memguard", "--memguard-report=json:mem.json", "-rA")

    result.assert_outcomes(failed=2)
    tests = {
        test["nodeid"]: test
        for test in json.loads((pytester.path / "mem.json").read_text())["tests"]
    }
    figure = tests["test_plots.py::test_opens_a_figure_and_never_closes_it"]
    chains = [finding["chain_text"] for finding in figure["findings"]]
    assert chains[0].startswith("plots.Gcf.figs["), chains
    assert not any("_FIGURE_OF" in chain or "_SNAPSHOT" in chain for chain in chains), chains

    closure = tests["test_handlers.py::test_keeps_a_buffer_in_a_closure"]
    assert closure["verdict"] == "leak"
    weighed = sum(finding["bytes"] for finding in closure["findings"])
    assert 64 * 1024 <= weighed < 68 * 1024, closure["findings"]
