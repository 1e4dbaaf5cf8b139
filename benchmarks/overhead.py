"""Wall-time overhead of ``pytest --memguard`` against plain pytest, a floor screen and memray.

Generates a realistic suite (see ``suite_factory.py``) into a temporary directory, then runs it
``--rounds`` times under each configuration, one pytest process at a time, configurations
interleaved (the order rotates every round), ``PYTHONHASHSEED=0``. Each configuration is run once
untimed first (warm-up: byte-code caches, page cache, and a check that it passes). Reports the
median and minimum wall time of the whole pytest process, per-test microseconds and ratios. The
``floor`` configuration is the minimal screen of ``floor_screen.py``: what any per-test memory
screen must pay, the reference for memguard's own per-test overhead.

Usage::

    python benchmarks/overhead.py [--tests N] [--rounds R] [--big-heap] [--memray]
                                  [--python PATH] [--check] [--max-ratio X] [--max-floor-ratio Y]

Exit status: 0 fine; 1 ``--check`` failed; 2 usage error; 3 a pytest run failed (non-zero exit,
including 5 "no tests collected", or a pass count other than the generated number of tests).
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import suite_factory

BENCHMARKS = Path(__file__).resolve().parent
EXIT_CHECK_FAILED = 1
EXIT_RUN_FAILED = 3
_USAGE_ERROR = 4  # pytest.ExitCode.USAGE_ERROR, without importing pytest here
# pytest's final summary line, e.g. "300 passed, 2 warnings in 1.23s" (with -q, no "=" rule)
_SUMMARY = re.compile(r"^=*\s*(\d+ \w+(?:, \d+ \w+)*) in [\d.]+s\b", re.MULTILINE)
# floor_screen.py's closing line: proof that the floor ran around every test
_FLOOR_LINE = re.compile(r"^floor screen: (\d+) tests screened", re.MULTILINE)


@dataclass(frozen=True)
class Config:
    """One way of running pytest over the suite."""

    name: str
    args: tuple[str, ...]
    flag: str  # the option that pytest rejects when the plugin behind it is missing
    screened: re.Pattern[str] | None = None  # a line whose number must equal the tests run

    def command(self, python: str) -> list[str]:
        """The full command line."""
        return [python, "-m", "pytest", "-q", "-p", "no:cacheprovider", *self.args]


PLAIN = Config("plain", ("-p", "no:memray", "-p", "no:memguard"), "")
FLOOR = Config(
    "floor", ("-p", "no:memray", "-p", "no:memguard", "-p", "floor_screen"), "", _FLOOR_LINE
)
MEMGUARD_OFF = Config("memguard-off", ("-p", "no:memray"), "")
MEMGUARD = Config("memguard", ("-p", "no:memray", "--memguard"), "--memguard")
MEMRAY = Config("memray", ("-p", "no:memguard", "--memray"), "--memray")


@dataclass
class Measurement:
    """The timed rounds of one configuration on one suite, and its state."""

    suite: suite_factory.GeneratedSuite
    config: Config
    seconds: list[float] = field(default_factory=list)
    unavailable: bool = False
    failure: str = ""

    @property
    def active(self) -> bool:
        """Still to be run: neither unavailable nor failed."""
        return not self.unavailable and not self.failure

    @property
    def median(self) -> float:
        """Median wall time over the rounds, seconds."""
        return statistics.median(self.seconds)


def environment() -> dict[str, str]:
    """The subprocess environment: pinned hash seed, no user-supplied pytest options, and
    byte-code caches written (as in a user's run: the warm-up fills them, so no timed round
    compiles a module).

    This directory goes on ``PYTHONPATH`` for every configuration (``-p floor_screen`` imports
    from it), so all of them search the same path.
    """
    env = dict(os.environ)
    env["PYTHONHASHSEED"] = "0"
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(BENCHMARKS), env.get("PYTHONPATH")]))
    for name in (
        "PYTEST_ADDOPTS",
        "PYTEST_PLUGINS",
        "PYTEST_DISABLE_PLUGIN_AUTOLOAD",
        "PYTHONDONTWRITEBYTECODE",
    ):
        env.pop(name, None)
    return env


def _tail(text: str, lines: int = 15) -> str:
    """The last ``lines`` lines of ``text``, indented."""
    return "\n".join("    " + line for line in text.strip().splitlines()[-lines:])


def pytest_command(python: str, measurement: Measurement) -> list[str]:
    """The command line of one pytest run of ``measurement``, run in its suite's root."""
    root = measurement.suite.root
    return [*measurement.config.command(python), "--rootdir", str(root), "-c", "pytest.ini"]


def failure_text(problem: str, command: list[str], output: str) -> str:
    """What a failed run says: the problem, the command, the output's last lines."""
    return f"{problem}\n  $ {' '.join(command)}\n{_tail(output)}"


def run_once(python: str, measurement: Measurement, env: dict[str, str]) -> float | None:
    """Run pytest once; return its wall time, or None after marking the measurement."""
    root = measurement.suite.root
    command = pytest_command(python, measurement)
    start = time.perf_counter()
    proc = subprocess.run(command, cwd=root, env=env, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - start

    flag = measurement.config.flag
    if (
        proc.returncode == _USAGE_ERROR
        and flag
        and f"unrecognized arguments: {flag}" in proc.stderr
    ):
        measurement.unavailable = True
        return None
    summaries = _SUMMARY.findall(proc.stdout)
    counts: dict[str, int] = {}
    for part in summaries[-1].split(", ") if summaries else []:
        number, word = part.split(" ", 1)
        counts[word] = int(number)
    expected = measurement.suite.tests
    screened = measurement.config.screened
    screened_counts = screened.findall(proc.stdout) if screened else []
    if proc.returncode != 0:
        problem = f"pytest exited with {proc.returncode}"
    elif counts.get("passed") != expected:
        problem = f"expected {expected} passed, pytest reported: {summaries[-1:] or 'no summary'}"
    elif screened and screened_counts[-1:] != [str(expected)]:
        problem = f"expected a screen of {expected} tests, the plugin reported {screened_counts}"
    else:
        return elapsed
    measurement.failure = failure_text(problem, command, proc.stdout + proc.stderr)
    return None


def _label(measurement: Measurement) -> str:
    """``suite/config`` for progress lines."""
    heap = "big-heap" if measurement.suite.big_heap else "normal"
    return f"{heap}/{measurement.config.name}"


def measure(python: str, measurements: list[Measurement], rounds: int) -> None:
    """A warm-up run of each, then ``rounds`` timed rounds, interleaved with a rotating order."""
    env = environment()
    for round_index in range(-1, rounds):
        shift = max(round_index, 0) % len(measurements)
        for measurement in measurements[shift:] + measurements[:shift]:
            if not measurement.active:
                continue
            elapsed = run_once(python, measurement, env)
            if elapsed is not None and round_index >= 0:
                measurement.seconds.append(elapsed)
            if measurement.unavailable:
                flag = measurement.config.flag
                print(f"{_label(measurement)}: not available (pytest rejected {flag})")
            elif measurement.failure:
                print(f"{_label(measurement)}: FAILED: {measurement.failure}")
        stage = "warm-up" if round_index < 0 else f"round {round_index + 1}/{rounds}"
        print(f"  {stage} done", file=sys.stderr, flush=True)


def _status(measurement: Measurement) -> str:
    """Why a measurement has no figures."""
    if measurement.unavailable:
        return f"not available (pytest rejected {measurement.config.flag})"
    return "FAILED (see above)"


def _measured(measurement: Measurement) -> bool:
    """Has figures: timed at least once and neither unavailable nor failed."""
    return bool(measurement.seconds) and measurement.active


@dataclass(frozen=True)
class SuiteResult:
    """The figures of one suite that the summary and ``--check`` read."""

    big_heap: bool
    ratios: dict[str, float]  # configuration name -> median / plain median
    overheads: dict[str, float]  # configuration name -> (median - plain median) / tests, us

    def floor_multiple(self) -> float | None:
        """memguard's per-test overhead over the floor's; None unless both are measured and the
        floor's is above zero (a floor within noise of plain gives no meaningful multiple)."""
        guard = self.overheads.get(MEMGUARD.name)
        floor = self.overheads.get(FLOOR.name)
        if guard is None or floor is None or floor <= 0:
            return None
        return guard / floor


def report_suite(measurements: list[Measurement]) -> SuiteResult:
    """Print the table and the floor comparison of one suite; return its figures."""
    suite = measurements[0].suite
    plain = next(m for m in measurements if m.config is PLAIN)
    heap = f", big heap ({suite_factory.BALLAST_OBJECTS:,} objects)" if suite.big_heap else ""
    print(f"\nsuite: {suite.tests} tests in {suite.modules} modules{heap}")
    print(f"{'configuration':<14} {'median s':>9} {'min s':>8} {'per-test us':>12}  vs plain")
    ratios: dict[str, float] = {}
    overheads: dict[str, float] = {}
    for m in measurements:
        if not _measured(m):
            print(f"{m.config.name:<14} {_status(m)}")
            continue
        per_test = m.median / suite.tests * 1e6
        line = f"{m.config.name:<14} {m.median:>9.3f} {min(m.seconds):>8.3f} {per_test:>12.1f}"
        if m.config is not PLAIN and _measured(plain):
            ratios[m.config.name] = m.median / plain.median
            overheads[m.config.name] = (m.median - plain.median) / suite.tests * 1e6
            line += f"  {m.config.name}/plain {ratios[m.config.name]:.2f}x"
        print(line)
    result = SuiteResult(suite.big_heap, ratios, overheads)
    for config in (FLOOR, MEMGUARD):
        if config.name in overheads:
            print(
                f"{config.name + ' per-test overhead:':<27} {overheads[config.name]:+8.1f} us"
                f"  ({config.name} - plain) / tests"
            )
    if FLOOR.name in ratios and MEMGUARD.name in ratios:
        multiple = result.floor_multiple()
        times = f"{multiple:.2f}x" if multiple is not None else "n/a (floor overhead <= 0)"
        print(
            f"memguard/floor {ratios[MEMGUARD.name] / ratios[FLOOR.name]:.2f}x (whole process); "
            f"memguard overhead / floor overhead {times}"
        )
    return result


def add_suite_options(parser: argparse.ArgumentParser) -> None:
    """``--tests`` and ``--python``: the suite generated and the interpreter running it."""
    parser.add_argument(
        "--tests",
        type=int,
        default=suite_factory.DEFAULT_TESTS,
        help="tests in the generated suite (default %(default)s)",
    )
    parser.add_argument(
        "--python",
        default=sys.executable,
        help="interpreter that runs pytest (default: this one)",
    )


def check_suite_options(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """A usage error for a suite smaller than the generator makes."""
    if args.tests < suite_factory.minimum_tests():
        parser.error(f"--tests must be at least {suite_factory.minimum_tests()}")


def main(argv: list[str] | None = None) -> int:
    """Command line entry point."""
    parser = argparse.ArgumentParser(
        description="Wall-time overhead of pytest --memguard against plain pytest."
    )
    add_suite_options(parser)
    parser.add_argument(
        "--rounds", type=int, default=5, help="timed runs per configuration (default %(default)s)"
    )
    parser.add_argument(
        "--big-heap",
        action="store_true",
        help="also run the suite with a session fixture holding 1,000,000 small lists",
    )
    parser.add_argument("--memray", action="store_true", help="also run under pytest-memray")
    parser.add_argument(
        "--check",
        action="store_true",
        help="exit 1 if memguard/plain exceeds --max-ratio, memguard's per-test overhead exceeds "
        "--max-floor-ratio times the floor's (normal heap), or (with --big-heap) the per-test "
        "overhead grows by more than --max-heap-growth-us on the big heap",
    )
    parser.add_argument(
        "--max-ratio", type=float, default=1.05, help="for --check (default %(default)s)"
    )
    parser.add_argument(
        "--max-floor-ratio",
        type=float,
        default=1.5,
        help="for --check: memguard per-test overhead / floor per-test overhead, on the normal "
        "heap (default %(default)s)",
    )
    parser.add_argument(
        "--max-heap-growth-us",
        type=float,
        default=100.0,
        help="for --check --big-heap, microseconds per test (default %(default)s)",
    )
    args = parser.parse_args(argv)
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    check_suite_options(parser, args)

    configs = [PLAIN, FLOOR, MEMGUARD_OFF, MEMGUARD] + ([MEMRAY] if args.memray else [])
    with tempfile.TemporaryDirectory(prefix="memguard-bench-") as tmp:
        suites = [suite_factory.generate(Path(tmp) / "normal", args.tests)]
        if args.big_heap:
            suites.append(suite_factory.generate(Path(tmp) / "big-heap", args.tests, True))
        measurements = [Measurement(suite, config) for suite in suites for config in configs]
        print(
            f"python: {args.python}; {args.rounds} rounds, interleaved; PYTHONHASHSEED=0; "
            f"{os.cpu_count()} cpus; one pytest at a time"
        )
        measure(args.python, measurements, args.rounds)

    results = [report_suite([m for m in measurements if m.suite is suite]) for suite in suites]
    growth = None
    if len(results) == 2:
        normal, big = (result.overheads.get(MEMGUARD.name) for result in results)
        if normal is not None and big is not None:
            growth = big - normal
            print(
                f"\nbig heap - normal heap, memguard per-test overhead: {growth:+.1f} us "
                f"(target: within {args.max_heap_growth_us:.0f} us: the cost must not grow "
                "with the heap)"
            )
            floors = [result.overheads.get(FLOOR.name) for result in results]
            if floors[0] is not None and floors[1] is not None:
                print(
                    "  the same over the floor instead of plain (freezing also spares the "
                    f"cyclic GC the ballast): {growth - (floors[1] - floors[0]):+.1f} us"
                )

    if any(m.failure for m in measurements):
        return EXIT_RUN_FAILED
    if args.check:
        return _check(results, growth, args)
    return 0


def _check(results: list[SuiteResult], growth: float | None, args: argparse.Namespace) -> int:
    """Apply ``--max-ratio``, ``--max-floor-ratio`` (on the normal heap) and, with
    ``--big-heap``, the heap-growth limit; print the verdict."""
    problems = []
    for result in results:
        heap = "big-heap" if result.big_heap else "normal"
        ratio = result.ratios.get(MEMGUARD.name)
        if ratio is None:
            problems.append(f"{heap}: memguard not measured")
            continue
        if ratio > args.max_ratio:
            problems.append(f"{heap}: memguard/plain {ratio:.2f}x > {args.max_ratio:.2f}x")
        if result.big_heap:
            # The floor beats plain there (frozen ballast: the cyclic GC's full collections
            # during a test skip it), so its overhead is no yardstick; the growth limit is.
            continue
        multiple = result.floor_multiple()
        if multiple is None:
            problems.append(f"{heap}: no floor overhead to compare with (add rounds)")
        elif multiple > args.max_floor_ratio:
            problems.append(
                f"{heap}: memguard overhead {multiple:.2f}x the floor's > "
                f"{args.max_floor_ratio:.2f}x"
            )
    if growth is not None and growth > args.max_heap_growth_us:
        problems.append(f"per-test overhead grows {growth:.1f} us on the big heap")
    for problem in problems:
        print(f"CHECK FAILED: {problem}")
    if not problems:
        print("check passed")
    return EXIT_CHECK_FAILED if problems else 0


if __name__ == "__main__":
    sys.exit(main())
