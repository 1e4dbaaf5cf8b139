"""Where a guarded run's overhead goes: time per pipeline stage and per verdict.

Runs one suite under ``--memguard`` with this file loaded as a plugin (``-p
stage_costs``), which wraps the pipeline's stages (:data:`STAGES`) in timers before the
first test, counts the passes over the heap (``gc.get_referrers`` calls) and, per
verdict, the plugin's own time inside ``Guard.guard`` (less the test's runs), then
prints them at exit. Times are inclusive (a stage's time holds the stages it calls);
each timer adds about a microsecond per call, so per-call figures under a few
microseconds are the timer's.

The wrappers take exactly the wrapped function's parameters: a ``*args`` wrapper's
argument tuple would be a young object alive inside the window, and every test a
suspect.

Usage::

    python benchmarks/stage_costs.py --keep /tmp/rs --suite attrs   # a suite real_suites.py kept
    python benchmarks/stage_costs.py --python PY --cwd DIR -- PYTEST_ARGS...
    python benchmarks/stage_costs.py --keep /tmp/rs --suite attrs \
        --stage pytest_memguard.screen.holderbook:HolderBook.note_lengths   # time one more

Besides the stages' totals it prints, per verdict, where a test of that verdict spends
its plugin time (the stages' time per test), and the spread of the plugin's time over the
tests (median, 90th and 99th percentiles, the slowest tests): a suite whose overhead sits
in a few tests (explanations) and one whose every test pays (the clean path) need
different work.

The first form runs the suite's own command line (its arguments, paths and environment)
with the venv and sources ``real_suites.py --keep DIR`` built; ``--repo`` runs another
pytest-memguard checkout in it (as ``real_suites.py --against`` does).
"""

from __future__ import annotations

import argparse
import collections
import functools
import gc
import importlib
import inspect
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

#: ``module:qualified.name`` of each stage timed, in pipeline order.
STAGES = (
    "pytest_memguard.builder:build_guard",
    "pytest_memguard.screen.warmup:warm_up",
    "pytest_memguard.guard:Guard.guard",
    "pytest_memguard.screen.window:WindowRunner.screen",
    "pytest_memguard.pytest_internals:run_unlogged",
    "pytest_memguard.screen.window:LoggedByOthers.__call__",
    "pytest_memguard.screen.window:WindowRunner._prepare",
    "pytest_memguard.sentinels.suite:snapshot_all",
    "pytest_memguard.screen.heap:YoungHeap.survivors",
    "pytest_memguard.screen.window:WindowRunner._attribute",
    "pytest_memguard.screen.triage:triage_after",
    "pytest_memguard.sentinels.suite:check_all",
    "pytest_memguard.screen.containers:ContainerWatch.growth",
    "pytest_memguard.screen.holderbook:HolderBook.note_lengths",
    "pytest_memguard.guard:Guard._judge",
    "pytest_memguard.guard:Guard._explain_without_a_search",
    "pytest_memguard.guard:Guard._confirm",
    "pytest_memguard.guard:Guard._find",
    "pytest_memguard.guard:Guard._repeat",
    "pytest_memguard.guard:Guard._confirmed",
    "pytest_memguard.guard:Guard._explain",
    "pytest_memguard.report.json:write_json_report",
)

#: The stages that run the test itself.
_TEST_RUNS = (
    "pytest_memguard.pytest_internals:run_unlogged",
    "pytest_memguard.screen.window:LoggedByOthers.__call__",
)

#: Where the plugin half writes its figures (set by the runner half).
OUT_ENV = "MEMGUARD_STAGE_COSTS_OUT"
#: More stages to time, comma-separated, as in :data:`STAGES` (``--stage``).
EXTRA_ENV = "MEMGUARD_STAGE_COSTS_EXTRA"
#: Slowest tests listed.
SLOWEST = 10

_totals: dict[str, list[float]] = collections.defaultdict(lambda: [0.0, 0])
_verdicts: dict[str, list[float]] = collections.defaultdict(lambda: [0.0, 0.0, 0])
_passes: list[float] = []
_test_run = [0.0]
#: Per verdict, each stage's seconds in the tests of that verdict.
_verdict_stages: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)
#: Each test's plugin seconds, node id and verdict.
_per_test: list[tuple[float, str, str]] = []


def _timed(raw: Callable[..., Any], name: str, on_return: Callable[[float], None] | None) -> Any:
    """A function of ``raw``'s own parameters that times each call of ``raw``."""
    parameters = inspect.signature(raw).parameters.values()
    positional = [
        p.name for p in parameters if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
    ]
    rest = [f"*{p.name}" for p in parameters if p.kind is p.VAR_POSITIONAL]
    keywords = [p.name for p in parameters if p.kind is p.KEYWORD_ONLY]
    extra = [f"**{p.name}" for p in parameters if p.kind is p.VAR_KEYWORD]
    star = rest or (["*"] if keywords else [])
    declared = ", ".join([*positional, *star, *keywords, *extra])
    passed = ", ".join([*positional, *rest, *(f"{name}={name}" for name in keywords), *extra])
    source = (
        f"def timed({declared}):\n"
        "    started = clock()\n"
        "    try:\n"
        f"        return raw({passed})\n"
        "    finally:\n"
        "        record(clock() - started)\n"
    )
    totals = _totals[name]

    def record(seconds: float) -> None:
        totals[0] += seconds
        totals[1] += 1
        if on_return is not None:
            on_return(seconds)

    namespace: dict[str, Any] = {"clock": time.perf_counter, "raw": raw, "record": record}
    exec(source, namespace)
    timed = namespace["timed"]
    timed.__defaults__, timed.__kwdefaults__ = raw.__defaults__, raw.__kwdefaults__
    # The plugin tells its own running frames by their code's file: so must the timer's.
    timed.__code__ = timed.__code__.replace(co_filename=raw.__code__.co_filename)
    return functools.update_wrapper(timed, raw)


def _install(stage: str) -> None:
    module_name, _, path = stage.partition(":")
    module = importlib.import_module(module_name)
    *owners, attribute = path.split(".")
    owner: Any = module
    for name in owners:
        owner = getattr(owner, name)
    raw = owner.__dict__[attribute] if isinstance(owner, type) else getattr(owner, attribute)
    # The test's own runs (by pytest's protocol, or by a plugin that runs tests itself,
    # such as pytest-rerunfailures), less which the guard's time is the plugin's.
    on_return = _add_run if stage in _TEST_RUNS else None
    timed = _timed(raw, stage, on_return)
    setattr(owner, attribute, timed)
    # Modules that imported the function by name call their own reference to it.
    for other in list(sys.modules.values()):
        names = getattr(other, "__dict__", None)
        if isinstance(names, dict) and other is not module and names.get(attribute) is raw:
            names[attribute] = timed


def _add_run(seconds: float) -> None:
    _test_run[0] += seconds


def _count_passes() -> None:
    referrers = gc.get_referrers

    def counting(*objs: object) -> list[object]:
        started = time.perf_counter()
        try:
            # 3.13 reports a call's argument tuple as a referrer: this one is ours.
            return [found for found in referrers(*objs) if found is not objs]
        finally:
            _passes.append(time.perf_counter() - started)

    gc.get_referrers = counting


#: ``around(guard, item, nextitem, limits, protocol)``: what a tool runs in place of
#: ``Guard.guard``, calling ``guard`` (the original, bound) itself.
Around = Callable[[Callable[..., Any], Any, Any, Any, Any], Any]


def wrap_guard(around: Around) -> None:
    """Have ``around`` (a function) run every guarded test in place of ``Guard.guard``
    (shared with ``bytecodes.py``). The replacement takes the original's parameters, and
    both carry the guard's file name: the plugin tells its own running frames by their
    code's file."""
    from pytest_memguard import guard

    raw = guard.Guard.guard
    default = inspect.signature(raw).parameters["protocol"].default

    def wrapped(self: Any, item: Any, nextitem: Any, limits: Any, protocol: Any = default) -> Any:
        return around(functools.partial(raw, self), item, nextitem, limits, protocol)

    for function in (wrapped, around):  # both run below the test's frames
        function.__code__ = function.__code__.replace(co_filename=raw.__code__.co_filename)  # type: ignore[attr-defined]
    guard.Guard.guard = wrapped  # type: ignore[method-assign]


def _timed_guard(
    guard: Callable[..., Any], item: Any, nextitem: Any, limits: Any, protocol: Any
) -> Any:
    """Times a guarded test: the plugin's time by verdict, and its stages'."""
    _test_run[0] = 0.0
    before = {stage: totals[0] for stage, totals in _totals.items()}
    started = time.perf_counter()
    reports, record = guard(item, nextitem, limits, protocol)
    plugin = time.perf_counter() - started - _test_run[0]
    kind = record.verdict + (" (same root)" if record.same_root_as else "")
    kind += " suspect" if record.suspect else ""
    _per_test.append((plugin, item.nodeid, kind))
    stages = _verdict_stages[kind]
    for stage, totals in _totals.items():
        stages[stage] += totals[0] - before.get(stage, 0.0)
    figures = _verdicts[kind]
    figures[0] += plugin
    figures[1] += _test_run[0]
    figures[2] += 1
    return reports, record


def _stages() -> tuple[str, ...]:
    """:data:`STAGES` and the ones ``--stage`` adds, each once: one wrapped twice would
    count its time twice."""
    extra = os.environ.get(EXTRA_ENV, "")
    return tuple(dict.fromkeys([*STAGES, *(stage for stage in extra.split(",") if stage)]))


def pytest_configure(config: Any) -> None:
    """Plugin half: wrap the stages before the first guarded test."""
    for stage in _stages():
        _install(stage)
    wrap_guard(_timed_guard)
    _count_passes()


def pytest_unconfigure(config: Any) -> None:
    """Plugin half: write the figures for the runner half."""
    lines = [
        "stage                                                      total ms    calls   us/call"
    ]
    for stage in _stages():
        seconds, calls = _totals[stage]
        per_call = seconds / calls * 1e6 if calls else 0.0
        lines.append(
            f"{stage.partition(':')[2]:55s} {seconds * 1e3:10.1f} {int(calls):8d} {per_call:9.1f}"
        )
    lines += ["", "verdict                       tests   plugin ms  us/test   test runs ms"]
    for kind, (plugin, runs, count) in sorted(_verdicts.items(), key=lambda kv: -kv[1][0]):
        per_test = plugin / count * 1e6
        lines.append(
            f"{kind:28s} {int(count):6d} {plugin * 1e3:11.1f} {per_test:8.0f} {runs * 1e3:14.1f}"
        )
    lines.append(f"\npasses over the heap: {len(_passes)}, {sum(_passes) * 1e3:.0f} ms")
    lines += _where_each_verdict_spends() + _spread()
    Path(os.environ.get(OUT_ENV, "stage-costs.txt")).write_text("\n".join(lines) + "\n")


def _where_each_verdict_spends() -> list[str]:
    """Per verdict, the plugin's time per test and the stages it spends most in, us per
    test (inclusive: a stage holds those it calls). The guard and the screen, which hold
    the test's own runs, are left out but for the plugin's total."""
    lines = [
        "",
        "per test of each verdict, us: the plugin's, then its costliest stages (inclusive):",
    ]
    holding_runs = {
        "pytest_memguard.guard:Guard.guard",
        "pytest_memguard.screen.window:WindowRunner.screen",
        *_TEST_RUNS,
    }
    for kind, (plugin, _, count) in sorted(_verdicts.items(), key=lambda kv: -kv[1][0]):
        spent = [
            (seconds, stage)
            for stage, seconds in _verdict_stages[kind].items()
            if stage not in holding_runs and seconds > 0
        ]
        spent.sort(reverse=True)
        shown = ", ".join(
            f"{stage.partition(':')[2]} {seconds / count * 1e6:.0f}" for seconds, stage in spent[:7]
        )
        lines.append(f"  {kind}: {plugin / count * 1e6:.0f}; {shown}")
    return lines


def _spread() -> list[str]:
    """The plugin's time per test: its percentiles, and the slowest tests."""
    if not _per_test:
        return []
    ranked = sorted(_per_test, reverse=True)
    times = sorted(seconds for seconds, _, _ in _per_test)
    total = sum(times)

    def percentile(share: float) -> float:
        return times[min(len(times) - 1, int(share * len(times)))] * 1e6

    slowest = sum(seconds for seconds, _, _ in ranked[:SLOWEST])
    lines = [
        "",
        f"plugin time per test, us: median {percentile(0.5):.0f}, 90th {percentile(0.9):.0f}, "
        f"99th {percentile(0.99):.0f}; the {SLOWEST} slowest tests "
        f"{slowest / total:.0%} of {total * 1e3:.0f} ms:",
    ]
    lines += [
        f"  {seconds * 1e6:10.0f}  {kind:28s} {nodeid}"
        for seconds, nodeid, kind in ranked[:SLOWEST]
    ]
    return lines


def add_suite_arguments(ap: argparse.ArgumentParser) -> None:
    """The options that name the suite to run (shared with ``bytecodes.py``)."""
    ap.add_argument("--keep", type=Path, help="work directory of real_suites.py --keep")
    ap.add_argument("--suite", help="a project real_suites.py knows (with --keep)")
    ap.add_argument("--repo", type=Path, help="another pytest-memguard checkout to run")
    ap.add_argument("--python", help="interpreter of the suite's venv (without --suite)")
    ap.add_argument("--cwd", type=Path, help="directory to run pytest in (without --suite)")
    ap.add_argument("pytest_args", nargs="*", help="pytest arguments (after --)")


def resolve_suite(
    ap: argparse.ArgumentParser, args: argparse.Namespace
) -> tuple[Path, str, dict[str, str], list[str]]:
    """The directory, interpreter, environment and pytest arguments of the suite that
    :func:`add_suite_arguments`' options name (exits with a usage error otherwise)."""
    if args.suite:
        if args.keep is None:
            ap.error("--suite needs --keep")
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        import real_suites

        project = next((p for p in real_suites.PROJECTS if p.key == args.suite), None)
        if project is None:
            ap.error(f"no suite {args.suite!r}: see real_suites.py --list")
        root = args.keep / project.key
        (cwd,) = [path for path in (root / "src").iterdir() if path.is_dir()]
        env = real_suites.environment(project, args.repo)
        pytest_args = [*project.args, *project.paths, *args.pytest_args]
        return cwd, str(root / "venv" / "bin" / "python"), env, pytest_args
    if args.python and args.cwd:
        return args.cwd, args.python, dict(os.environ), args.pytest_args
    ap.error("give --keep and --suite, or --python and --cwd")


def run_with_plugin(
    ap: argparse.ArgumentParser,
    args: argparse.Namespace,
    plugin: str,
    settings: dict[str, str],
    out_env: str,
) -> int:
    """Run the suite ``args`` name guarded, with the module ``plugin`` of this directory
    loaded (``-p``) and ``settings`` in its environment; print what it wrote to the file
    named by ``out_env``."""
    here = Path(__file__).resolve().parent
    cwd, python, env, pytest_args = resolve_suite(ap, args)
    out = Path(cwd) / f".memguard-{plugin}.txt"
    report = Path(cwd) / f".memguard-{plugin}.json"  # written as real_suites.py's runs do
    env.update(settings)
    env[out_env] = str(out)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(here), env.get("PYTHONPATH")]))
    cmd = [python, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", plugin]
    cmd += ["--memguard", f"--memguard-report=json:{report}", *pytest_args]
    started = time.perf_counter()
    result = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    print(
        f"pytest exit {result.returncode} in {time.perf_counter() - started:.2f} s: {' '.join(cmd)}"
    )
    if not out.exists():
        sys.stderr.write(result.stdout[-3000:] + result.stderr[-3000:])
        return 1
    print(out.read_text(), end="")
    out.unlink()
    report.unlink(missing_ok=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    """Runner half: run the suite with this file as a plugin and print its figures."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_suite_arguments(ap)
    ap.add_argument(
        "--stage",
        action="append",
        default=[],
        metavar="MODULE:QUALNAME",
        help="one more function to time, as pytest_memguard.guard:Guard._judge (repeatable)",
    )
    args = ap.parse_args(argv)
    return run_with_plugin(ap, args, "stage_costs", {EXTRA_ENV: ",".join(args.stage)}, OUT_ENV)


if __name__ == "__main__":
    raise SystemExit(main())
