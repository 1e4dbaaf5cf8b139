"""Wall-time overhead of ``pytest --memguard`` against plain pytest (and pytest-memray).

Generates a realistic suite (see ``suite_factory.py``) into a temporary directory, then runs it
``--rounds`` times under each configuration, one pytest process at a time, configurations
interleaved (the order rotates every round), ``PYTHONHASHSEED=0``. Each configuration is run once
untimed first (warm-up: byte-code caches, page cache, and a check that it passes). Reports the
median and minimum wall time of the whole pytest process, per-test microseconds and ratios.

Usage::

    python benchmarks/overhead.py [--tests N] [--rounds R] [--big-heap] [--memray]
                                  [--python PATH] [--check] [--max-ratio X]

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

EXIT_CHECK_FAILED = 1
EXIT_RUN_FAILED = 3
_USAGE_ERROR = 4  # pytest.ExitCode.USAGE_ERROR, without importing pytest here
# pytest's final summary line, e.g. "300 passed, 2 warnings in 1.23s" (with -q, no "=" rule)
_SUMMARY = re.compile(r"^=*\s*(\d+ \w+(?:, \d+ \w+)*) in [\d.]+s\b", re.MULTILINE)


@dataclass(frozen=True)
class Config:
    """One way of running pytest over the suite."""

    name: str
    args: tuple[str, ...]
    flag: str  # the option that pytest rejects when the plugin behind it is missing

    def command(self, python: str) -> list[str]:
        """The full command line."""
        return [python, "-m", "pytest", "-q", "-p", "no:cacheprovider", *self.args]


PLAIN = Config("plain", ("-p", "no:memray", "-p", "no:memguard"), "")
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


def _environment() -> dict[str, str]:
    """The subprocess environment: pinned hash seed, no user-supplied pytest options."""
    env = dict(os.environ)
    env["PYTHONHASHSEED"] = "0"
    for name in ("PYTEST_ADDOPTS", "PYTEST_PLUGINS", "PYTEST_DISABLE_PLUGIN_AUTOLOAD"):
        env.pop(name, None)
    return env


def _tail(text: str, lines: int = 15) -> str:
    """The last ``lines`` lines of ``text``, indented."""
    return "\n".join("    " + line for line in text.strip().splitlines()[-lines:])


def run_once(python: str, measurement: Measurement, env: dict[str, str]) -> float | None:
    """Run pytest once; return its wall time, or None after marking the measurement."""
    root = measurement.suite.root
    command = [*measurement.config.command(python), "--rootdir", str(root), "-c", "pytest.ini"]
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
    if proc.returncode != 0:
        problem = f"pytest exited with {proc.returncode}"
    elif counts.get("passed") != expected:
        problem = f"expected {expected} passed, pytest reported: {summaries[-1:] or 'no summary'}"
    else:
        return elapsed
    measurement.failure = f"{problem}\n  $ {' '.join(command)}\n{_tail(proc.stdout + proc.stderr)}"
    return None


def _label(measurement: Measurement) -> str:
    """``suite/config`` for progress lines."""
    heap = "big-heap" if measurement.suite.big_heap else "normal"
    return f"{heap}/{measurement.config.name}"


def measure(python: str, measurements: list[Measurement], rounds: int) -> None:
    """A warm-up run of each, then ``rounds`` timed rounds, interleaved with a rotating order."""
    env = _environment()
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


def report_suite(measurements: list[Measurement]) -> float | None:
    """Print the table of one suite; return memguard's per-test overhead in us, if measured."""
    suite = measurements[0].suite
    plain = next(m for m in measurements if m.config is PLAIN)
    heap = f", big heap ({suite_factory.BALLAST_OBJECTS:,} objects)" if suite.big_heap else ""
    print(f"\nsuite: {suite.tests} tests in {suite.modules} modules{heap}")
    print(f"{'configuration':<14} {'median s':>9} {'min s':>8} {'per-test us':>12}  vs plain")
    for m in measurements:
        if not m.seconds or not m.active:
            print(f"{m.config.name:<14} {_status(m)}")
            continue
        per_test = m.median / suite.tests * 1e6
        line = f"{m.config.name:<14} {m.median:>9.3f} {min(m.seconds):>8.3f} {per_test:>12.1f}"
        if m.config is not PLAIN and plain.seconds and plain.active:
            line += f"  {m.config.name}/plain {m.median / plain.median:.2f}x"
        print(line)
    memguard = next(m for m in measurements if m.config is MEMGUARD)
    if not (memguard.seconds and memguard.active and plain.seconds and plain.active):
        return None
    overhead = (memguard.median - plain.median) / suite.tests * 1e6
    print(f"memguard overhead: {overhead:+.1f} us per test (memguard - plain) / tests")
    return overhead


def main(argv: list[str] | None = None) -> int:
    """Command line entry point."""
    parser = argparse.ArgumentParser(
        description="Wall-time overhead of pytest --memguard against plain pytest."
    )
    parser.add_argument(
        "--tests",
        type=int,
        default=suite_factory.DEFAULT_TESTS,
        help="tests in the generated suite (default %(default)s)",
    )
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
        "--python",
        default=sys.executable,
        help="interpreter that runs pytest (default: this one)",
    )
    parser.add_argument(
        "--check",
        action="store_true",
        help="exit 1 if memguard/plain exceeds --max-ratio (or, with --big-heap, the per-test "
        "overhead grows by more than --max-heap-growth-us on the big heap)",
    )
    parser.add_argument(
        "--max-ratio", type=float, default=1.05, help="for --check (default %(default)s)"
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
    if args.tests < suite_factory.minimum_tests():
        parser.error(f"--tests must be at least {suite_factory.minimum_tests()}")

    configs = [PLAIN, MEMGUARD_OFF, MEMGUARD] + ([MEMRAY] if args.memray else [])
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

    overheads = [report_suite([m for m in measurements if m.suite is suite]) for suite in suites]
    growth = None
    if len(overheads) == 2 and overheads[0] is not None and overheads[1] is not None:
        growth = overheads[1] - overheads[0]
        print(
            f"\nbig heap - normal heap, memguard per-test overhead: {growth:+.1f} us "
            f"(target: within {args.max_heap_growth_us:.0f} us: the cost must not grow with "
            "the heap)"
        )

    if any(m.failure for m in measurements):
        return EXIT_RUN_FAILED
    if args.check:
        return _check(measurements, growth, args)
    return 0


def _check(measurements: list[Measurement], growth: float | None, args: argparse.Namespace) -> int:
    """Apply ``--max-ratio`` (and the heap-growth limit with ``--big-heap``); print the verdict."""
    problems = []
    plain = {m.suite.root: m for m in measurements if m.config is PLAIN}
    for m in measurements:
        if m.config is not MEMGUARD:
            continue
        heap = "big-heap" if m.suite.big_heap else "normal"
        if not m.seconds:
            problems.append(f"{heap}: memguard {_status(m)}")
            continue
        ratio = m.median / plain[m.suite.root].median
        if ratio > args.max_ratio:
            problems.append(f"{heap}: memguard/plain {ratio:.2f}x > {args.max_ratio:.2f}x")
    if growth is not None and growth > args.max_heap_growth_us:
        problems.append(f"per-test overhead grows {growth:.1f} us on the big heap")
    for problem in problems:
        print(f"CHECK FAILED: {problem}")
    if not problems:
        print("check passed")
    return EXIT_CHECK_FAILED if problems else 0


if __name__ == "__main__":
    sys.exit(main())
