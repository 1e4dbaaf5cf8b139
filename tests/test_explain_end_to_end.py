"""The explain stage through the plugin: a confirmed leak's findings as a user sees them."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
from explain_helpers import PLOTS
from inner_runs import counting_conftest

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


#: Counts the chain search's passes over the heap in an inner run, with the kinds of
#: object they looked above.
COUNTING_CHAIN_PASSES = counting_conftest(
    "pytest_memguard.explain.chains._expand",
    "[type(search.nodes[at]).__name__ for search, at in args[2]]",
    'f"looked above: {sorted({kind for kinds in CALLS for kind in kinds})}"',
)


def test_a_chain_search_past_a_root_in_sys_does_not_climb_the_plugins_records(
    pytester: pytest.Pytester, run_pytest: RunPytest
) -> None:
    """Past a root in ``sys`` a chain search looks a few levels further for a better
    one. The watch's records of the containers that grew refer to what the chain goes
    through (an archive's importer in ``sys.path_importer_cache``): the search must not
    go on through those, and the runs holding them, a pass over the heap each."""
    pytester.makepyfile(
        test_archives="""
        import sys
        import zipfile

        def test_imports_from_an_archive_of_its_own(tmp_path):
            archive = tmp_path / "templates.zip"
            with zipfile.ZipFile(archive, "w") as written:
                written.writestr("memguard_templates_mod.py", "VALUE = 1\\n")
            sys.path.insert(0, str(archive))
            try:
                import memguard_templates_mod
            finally:
                sys.path.remove(str(archive))
                sys.modules.pop("memguard_templates_mod", None)
        """
    )
    pytester.makeconftest(COUNTING_CHAIN_PASSES)

    result = run_pytest("--memguard", "--memguard-report=json:mem.json")

    result.assert_outcomes(failed=1)
    (test,) = json.loads((pytester.path / "mem.json").read_text())["tests"]
    assert test["verdict"] == "leak"
    assert "sys.path_importer_cache" in test["findings"][0]["chain_text"]
    looked_above = next(line for line in result.outlines if line.startswith("looked above"))
    assert "Growth" not in looked_above and "GuardedRun" not in looked_above
