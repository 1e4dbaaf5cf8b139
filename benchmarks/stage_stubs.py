"""A pytest plugin that replaces one stage of ``--memguard`` by a stub, to count what it costs.

Loaded with ``-p stage_stubs --memguard-stub=STAGE`` (this directory on ``PYTHONPATH``) by
``instructions.py --stages``, which counts a run with each stage stubbed against a full
one: the difference is the stage's work, and every pass over the heap or walk its absence
spares. A stubbed run judges wrongly (that is not what it is for); it still runs every
test once, so the suite's own work is the same in both runs.

The stubs name the plugin's internals, as ``stage_costs.py`` does: one that no longer
exists fails the run at configure time rather than counting a run it did not change.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

#: ``--memguard-stub`` values, with what each replaces.
STAGES = {
    "guard": "the guard: the test runs once and gets an ok record, no window",
    "attribution": "the walks of pytest's survivors: everything a run leaves is pytest's",
    "sentinels": "every sentinel",
    "containers": "the watch of module-level containers' lengths",
}


def pytest_addoption(parser: pytest.Parser) -> None:
    """The stage to stub."""
    parser.addoption("--memguard-stub", choices=sorted(STAGES), help="stage to replace")


def pytest_configure(config: pytest.Config) -> None:
    """Replace the chosen stage before the guard is built (at the first guarded test)."""
    stage = config.getoption("--memguard-stub")
    if stage is not None:
        _STUBS[stage]()


def _stub_guard() -> None:
    from pytest_memguard.confirm.decide import Facts, decide, record_of
    from pytest_memguard.guard import Guard, _outcome
    from pytest_memguard.screen.window import run_unlogged

    def guard(
        self: Guard,
        item: Any,
        nextitem: Any,
        limits: Any,
        protocol: Callable[..., Any] = run_unlogged,
    ) -> Any:
        reports = protocol(item, nextitem)
        facts = Facts(outcome=_outcome(reports))
        self.runner.finish(item, nextitem)
        return reports, record_of(item.nodeid, limits.to_dict(), facts, decide(facts, limits), [])

    Guard.guard = guard  # type: ignore[method-assign]


def _stub_attribution() -> None:
    from pytest_memguard.screen import window

    # The stub takes the method's own parameters: a ``*args`` tuple made inside the
    # window would be a young survivor of every run.
    def attribute(
        self: Any,
        item: Any,
        held_by_us: Any,
        survivors: list[object],
        mark: Any,
        kind: Any,
        first: Any = None,
        instance: Any = None,
    ) -> Any:
        return window._Survivors([], len(survivors), {}, None, window.NOTHING_RETAINED, [])

    window.WindowRunner._attribute = attribute  # type: ignore[method-assign]


def _stub_sentinels() -> None:
    from pytest_memguard import builder

    builder._sentinel_hooks = lambda config, settings, disabled, blame: None


def _stub_containers() -> None:
    from pytest_memguard.screen.containers import ContainerWatch

    ContainerWatch.refresh = lambda self, nodeid="": None  # type: ignore[method-assign]
    ContainerWatch.scan_modules = lambda self: None  # type: ignore[method-assign]
    ContainerWatch.sizes = lambda self: ()  # type: ignore[method-assign]
    ContainerWatch.growth = lambda self, before: []  # type: ignore[method-assign]


_STUBS: dict[str, Callable[[], None]] = {
    "guard": _stub_guard,
    "attribution": _stub_attribution,
    "sentinels": _stub_sentinels,
    "containers": _stub_containers,
}
