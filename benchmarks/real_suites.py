"""Run pytest-memguard on the test suites of real open-source projects.

For each project below, the pinned source distribution is downloaded from PyPI (sdists ship
the test suites), unpacked into a work directory, and installed into a throwaway venv with
its test dependencies, pytest-memguard (editable, from --repo) and pytest-memray. The suite
then runs three ways, one pytest at a time:

  plain     pytest -q -p no:cacheprovider -p no:memguard -p no:memray
  memguard  pytest -q -p no:cacheprovider -p no:memray --memguard --memguard-report=json:PATH
  memray    pytest -q -p no:cacheprovider -p no:memguard --memray

plain and memguard run --rounds times each, interleaved (the order alternates every round),
after an untimed warm-up that fills the byte-code caches (as a user's earlier runs would),
and their median wall times are compared; memray runs once (--modes runs fewer). One line per
suite is printed: tests, passed/failed in each mode, the share of tests memguard made
suspects, the seconds it spent confirming them and explaining its confirmed leaks, the root
causes it reported, the tests it flagged (verdict leak or over-limit in its JSON report, or
LEAK in its output), the tests it left `unconfirmed`, the tests whose outcome differs from
the plain run, and the wall-time ratios memguard/plain and memray/plain; then the median
ratios over the suites. With --details every root, flagged or changed test is listed with
its findings.

    python benchmarks/real_suites.py                    # all projects (an hour or more)
    python benchmarks/real_suites.py --only toolz       # one project (repeatable)
    python benchmarks/real_suites.py --keep /tmp/rs     # keep sources, venvs and outputs
    python benchmarks/real_suites.py --keep /tmp/rs --repo /path/to/pytest-memguard
    python benchmarks/real_suites.py --rounds 3 --timeout 900
    python benchmarks/real_suites.py --keep /tmp/rs --repo . --against /tmp/base --rounds 3
    python benchmarks/real_suites.py --keep /tmp/rs --modes plain   # build venvs, check suites
    python benchmarks/real_suites.py --list             # the projects and their pins

Needs network access to PyPI. Nothing is written into the repository: everything goes to
a temporary directory (or to --keep DIR, reused by later runs: sdists and venvs already
there are not fetched or built again; a venv built from another --repo, or before that
repository's pyproject.toml changed, gets pytest-memguard reinstalled from --repo).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
MODES = ("plain", "memguard", "against", "memray")
TIMED_MODES = ("plain", "memguard", "against")  # run --rounds times; memray once
FLAGGED_VERDICTS = ("leak", "over-limit")

# Shared by every venv: the runner and the peer.
COMMON = ["pytest==9.2.0", "pytest-memray==1.11.0", "memray==1.20.0"]


@dataclass(frozen=True)
class Project:
    """A project whose own test suite is run, pinned."""

    name: str  # PyPI name
    version: str
    style: str  # what kind of suite it is, for the table
    deps: tuple[str, ...] = ()  # test dependencies (and fragile runtime ones), pinned
    paths: tuple[str, ...] = ("tests",)  # test paths, relative to the unpacked sdist
    args: tuple[str, ...] = ()  # extra pytest arguments for every mode
    env: dict[str, str] = field(default_factory=dict)
    label: str = ""  # name in the table, --only and the work directory; default: name

    @property
    def key(self) -> str:
        """The name this entry goes by (two entries may run parts of one project)."""
        return self.label or self.name


HYPOTHESIS = "hypothesis==6.170.17"
# For every suite that uses hypothesis: its built-in "ci" profile (it overrides a profile a
# conftest loads). No deadline: on a loaded 2-core machine, and more so under a guard that
# re-runs tests, deadlines fail tests at random (h2's plain run did); derandomized: the same
# examples in every mode and round, so their times compare; no example database: no
# .hypothesis/ written by one run and replayed by the next.
HYPOTHESIS_ARGS = ("--hypothesis-profile=ci",)
# attrs' test dependencies, for both of its entries.
ATTRS_DEPS = (HYPOTHESIS, "pympler==1.1", "cloudpickle==3.1.3")

PROJECTS = [
    Project(
        "more-itertools",
        "11.2.1",
        "unittest.TestCase classes, doctests of itertools recipes",
    ),
    Project(
        "python-dateutil",
        "4.0.0",
        "unittest classes, tz caches (module-level), freezegun, hypothesis",
        deps=(
            "freezegun==1.5.5",
            HYPOTHESIS,
            "attrs==26.1.0",
            "tzdata==2026.6",
            "pytest-cov==7.1.0",  # registers the no_cover mark its conftest adds
        ),
        args=HYPOTHESIS_ARGS,
    ),
    Project(
        "toolz",
        "1.2.0",
        "functional helpers, memoize caches, curry, module-level dispatch",
        paths=("toolz/tests",),
    ),
    Project(
        "cachetools",
        "8.0.2",
        "cache classes and decorators, threads and locks",
    ),
    Project(
        "marshmallow",
        "4.4.0",
        "fixtures, parametrize, a global class registry of schemas",
        deps=("simplejson==4.3.0",),
    ),
    Project(
        "h11",
        "0.16.0",
        "protocol state machines, a threaded socketserver test",
        paths=("h11/tests",),
    ),
    Project(
        "tomlkit",
        "0.15.2",
        "parametrize over data files, module-level fixtures",
        deps=("PyYAML==6.0.4",),
    ),
    Project(
        "pyparsing",
        "3.3.3",
        "unittest classes, packrat/left-recursion caches, module-level parsers",
        deps=("railroad-diagrams==3.0.1", "jinja2==3.1.6"),
    ),
    Project(
        "attrs",
        "26.1.0",
        "heavy parametrize, class factories, fixtures with params; hypothesis in 2 files",
        deps=ATTRS_DEPS,
        args=HYPOTHESIS_ARGS,
        # The files with most @given tests are the attrs-hypothesis entry below; this one
        # keeps the rest, so that one entry shows what hypothesis costs.
        paths=tuple(
            f"tests/test_{m}.py"
            for m in [
                "3rd_party",
                "abc",
                "annotations",
                "cmp",
                "compat",
                "config",
                "converters",
                "filters",
                "functional",
                "hooks",
                "init_subclass",
                "next_gen",
                "pattern_matching",
                "setattr",
                "slots",
                "utils",
                "validators",
                "version_info",
            ]
        ),
    ),
    Project(
        "attrs",
        "26.1.0",
        "hypothesis-heavy: 56 @given tests building classes from drawn attributes",
        deps=ATTRS_DEPS,
        args=HYPOTHESIS_ARGS,
        # The three files holding 56 of attrs' 59 @given tests (427 tests, ~10 s plain).
        paths=("tests/test_make.py", "tests/test_funcs.py", "tests/test_dunders.py"),
        label="attrs-hypothesis",
    ),
    Project(
        "h2",
        "4.4.1",
        "hypothesis-heavy HTTP/2 state machines: @given over frames, headers, settings",
        deps=(HYPOTHESIS, "hpack==4.2.0", "hyperframe==6.1.0"),
        args=HYPOTHESIS_ARGS,
    ),
    Project(
        "click",
        "8.5.1",
        "CLI: CliRunner.invoke in most tests, captured stdin/stdout/stderr, env, prompts",
        # pyproject's addopts leave out the 31,000 generated stress tests ('-m not stress').
    ),
    Project(
        "jinja2",
        "3.1.6",
        "templating: environments and loaders per test, compiled-template caches, "
        "module loaders importing from temporary zip files and directories",
        deps=("MarkupSafe==3.0.4", "trio==0.35.0"),
    ),
    Project(
        "typer",
        "0.29.1",
        "CLI: CliRunner over tutorial apps (a docs_src module imported per test file), rich",
        deps=(
            "rich==15.0.0",
            "pydantic==2.14.4",
            "shellingham==1.5.4",
            "annotated-doc==0.0.7",
        ),
        # The tutorial tests alone (647 tests, ~10 s plain): the full suite takes ~2.5 min
        # plain, mostly in tests that spawn `python -m coverage run` (test_script, the
        # completion tests, test_exceptions): a subprocess per test measures process start-up,
        # not the suite's own heap.
        paths=("tests/test_tutorial",),
        args=(
            "-k",
            "not test_script and not completion",
            "--ignore=tests/test_tutorial/test_exceptions",
        ),
        # what typer's scripts/test.sh sets: help texts are asserted unwrapped
        env={"TERMINAL_WIDTH": "3000", "_TYPER_FORCE_DISABLE_TERMINAL": "1"},
    ),
    Project(
        "humanize",
        "4.17.0",
        "dates: freezegun's @freeze_time over most tests, a gettext catalog per locale",
        deps=("freezegun==1.5.5",),
        # pytest-benchmark's timings, not tests: its fixture is not installed
        args=("--ignore=tests/test_benchmarks.py",),
    ),
    Project(
        "mako",
        "1.4.3",
        "templating: templates compiled per test, lookups, module and source caches, plugins",
        deps=("MarkupSafe==3.0.4", "Babel==2.19.0", "lingua==4.16.2", "dogpile.cache==1.5.0"),
        paths=("test",),
    ),
    # Added in session 45 from real suites the plugin had not met: a date library over
    # ~600 time zones, a CLI generator capturing streams, a parser of unittest classes,
    # locale data loaded per locale, and a hypothesis-heavy converter library.
    Project(
        "arrow",
        "1.4.0",
        "dates: class fixtures, ~80 locale classes, regex caches, pytz/dateutil/zoneinfo zones",
        deps=(
            "python-dateutil==2.9.0.post0",
            "tzdata==2026.6",
            "pytest-mock==3.17.0",
            "pytz==2025.2",
            "simplejson==3.20.2",
            "dateparser==1.5.0",
            "regex==2026.12.2",
            "tzlocal==5.4.5",
        ),
        # tox.ini's addopts need pytest-cov and write junit.xml.
        args=("-o", "addopts="),
    ),
    Project(
        "fire",
        "0.7.1",
        "CLI generator: Fire() per test, stdout and stderr captured in most tests",
        deps=("termcolor==3.1.0", HYPOTHESIS),
        paths=("fire",),
        args=HYPOTHESIS_ARGS,
    ),
    Project(
        "Markdown",
        "3.11.4",
        "parser: unittest.TestCase classes, an extension registry, Pygments' caches",
        deps=("PyYAML==6.0.4", "Pygments==2.21.0"),
        # test_syntax first: test_legacy.py turns warnings into errors at import.
        paths=(
            "tests/test_syntax",
            "tests/test_apis.py",
            "tests/test_extensions.py",
            "tests/test_legacy.py",
            "tests/test_meta.py",
        ),
        # Their expected HTML is Pygments 2.7.1's, which pytest 9.2 cannot install with.
        args=tuple(
            f"--deselect=tests/test_syntax/extensions/{test}"
            for test in [
                *(
                    f"test_code_hilite.py::TestCodeHiliteClass::test_codehilite_{name}"
                    for name in [
                        "bad_lang",
                        "defaults",
                        "guess_lang",
                        "guess_lang_plain_text",
                        "linenos_hl_lines",
                        "linenos_table",
                        "linenos_true",
                        "linenums_true",
                        "set_lang",
                        "startinline",
                    ]
                ),
                *(
                    f"test_code_hilite.py::TestCodeHiliteExtension::{name}"
                    for name in [
                        "testBasicCodeHilite",
                        "testFormatterLangStrGuessLang",
                        "testLinenumsNone",
                        "testLinenumsNoneWithShebang",
                        "testLinenumsTrue",
                        "testMultipleBlocksSameStyle",
                        "testUnknownOption",
                    ]
                ),
                *(
                    f"test_fenced_code.py::TestFencedCodeWithCodehilite::{name}"
                    for name in [
                        "testCustomPygmentsFormatter",
                        "testFencedLanguageAttrLinenums",
                        "testFencedLanguageAttrNoclasses",
                        "testFencedMultipleBlocksSameStyle",
                    ]
                ),
            ]
        ),
        env={"PYGMENTS_VERSION": "2.21.0"},
    ),
    Project(
        "babel",
        "2.19.0",
        "dates and numbers: CLDR data loaded per locale into module caches, doctests",
        deps=(
            "freezegun==1.5.5",
            "python-dateutil==4.0.0",
            "jinja2==3.1.6",
            "MarkupSafe==3.0.4",
            "pytz==2026.6",
            "setuptools==84.2.1",
        ),
        paths=("tests", "babel"),
    ),
    Project(
        "cattrs",
        "26.2.1",
        "hypothesis-heavy: converters built per example, classes from drawn strategies",
        deps=(
            HYPOTHESIS,
            "attrs==26.1.0",
            "typing-extensions==4.16.0",
            "pytest-benchmark==5.3.1",  # its addopts pass --benchmark-* options
        ),
        args=HYPOTHESIS_ARGS,
        # The files with most @given tests that run in 20-40 s plain.
        paths=tuple(
            f"tests/test_{m}.py"
            for m in ["structure", "structure_attrs", "unstructure", "copy", "enums", "validation"]
        ),
    ),
]

SUMMARY = re.compile(r"^=*\s*(?P<body>(\d+ \w+(, )?)+.*) in (?P<secs>[\d.]+)s")
# "leaked": memguard's word for a root's later tests, failed under their own category.
COUNT = re.compile(r"(\d+) (passed|failed|leaked|errors?|skipped|xfailed|xpassed|deselected)")
OUTCOME_LINE = re.compile(r"^(FAILED|ERROR|LEAK) (\S+)")

DEFAULT_TIMEOUT = 1200  # seconds per pytest run; --timeout


@dataclass(frozen=True)
class Completed:
    """A finished (or killed) command."""

    returncode: int
    output: str
    timed_out: bool


def run(
    cmd: list[str],
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
    log: Path | None = None,
    check: bool = True,
    timeout: float | None = None,
) -> Completed:
    """Run ``cmd`` in its own process group; past ``timeout`` the whole group is killed."""
    with subprocess.Popen(
        cmd,
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # so a kill reaches the processes the suite started too
    ) as proc:
        try:
            output, _ = proc.communicate(timeout=timeout)
            timed_out = False
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            output, _ = proc.communicate()
            output += f"\nTIMEOUT after {timeout}s\n"
            timed_out = True
        except BaseException:  # Ctrl-C: the child is in its own session and would go on
            os.killpg(proc.pid, signal.SIGKILL)
            raise
    result = Completed(proc.returncode, output, timed_out)
    if log is not None:
        log.write_text(output)
    if check and result.returncode != 0:
        sys.stderr.write(output[-4000:])
        raise SystemExit(f"failed ({result.returncode}): {' '.join(map(str, cmd))}")
    return result


def _repo_stamp(repo: Path) -> str:
    """What a venv's pytest-memguard was installed from: the path and its pyproject.toml."""
    digest = hashlib.sha256((repo / "pyproject.toml").read_bytes()).hexdigest()[:16]
    return f"{repo} {digest}\n"


def prepare(project: Project, work: Path, repo: Path) -> tuple[Path, Path]:
    """Download and unpack the sdist, build the venv; return (source dir, python)."""
    root = work / project.key
    root.mkdir(parents=True, exist_ok=True)
    dl = root / "sdist"
    sdists = list(dl.glob("*.tar.gz")) if dl.exists() else []
    if not sdists:
        run(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "--no-binary",
                ":all:",
                "--no-deps",
                "-d",
                str(dl),
                f"{project.name}=={project.version}",
            ],
            log=root / "download.log",
        )
        sdists = list(dl.glob("*.tar.gz"))
    src_root = root / "src"
    if not src_root.exists():
        with tarfile.open(sdists[0]) as tar:
            tar.extractall(src_root, filter="data")
    (src,) = [p for p in src_root.iterdir() if p.is_dir()]
    venv = root / "venv"
    python = venv / "bin" / "python"
    pip = [str(python), "-m", "pip", "install", "-q"]
    if not (venv / ".memguard-ready").exists():
        shutil.rmtree(venv, ignore_errors=True)
        run([sys.executable, "-m", "venv", str(venv)])
        run([*pip, *COMMON, *project.deps], log=root / "install-deps.log")
        run([*pip, "-e", str(src)], log=root / "install-project.log")
        (venv / ".memguard-ready").write_text("ok\n")
    installed_from = venv / ".memguard-repo"
    stamp = _repo_stamp(repo)
    if not installed_from.exists() or installed_from.read_text() != stamp:
        run([*pip, "-e", str(repo)], log=root / "install-memguard.log")
        run([str(python), "-m", "pip", "freeze"], log=root / "freeze.txt")
        installed_from.write_text(stamp)
    return src, python


@dataclass
class ModeResult:
    """One mode's runs of one suite; outcomes from the last run."""

    mode: str
    seconds: list[float]  # wall time of every run
    returncode: int
    timed_out: bool
    counts: dict[str, int]
    bad: dict[str, str]  # nodeid -> FAILED / ERROR
    leak_lines: set[str]
    output: str

    @classmethod
    def not_run(cls, mode: str) -> ModeResult:
        """A mode left out by --modes."""
        return cls(mode, [], 0, False, {}, {}, set(), "")

    @property
    def ran(self) -> bool:
        """Was run (at least once)."""
        return bool(self.seconds)

    @property
    def median(self) -> float:
        """Median wall time over the runs, seconds."""
        return statistics.median(self.seconds)


def command(project: Project, python: Path, mode: str, out: Path) -> list[str]:
    """The pytest command line of one mode."""
    base = [str(python), "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rfE"]
    if mode == "plain":
        extra = ["-p", "no:memguard", "-p", "no:memray"]
    elif mode in ("memguard", "against"):
        extra = ["-p", "no:memray", "--memguard", f"--memguard-report=json:{out / f'{mode}.json'}"]
    else:
        extra = ["-p", "no:memguard", "--memray"]
    return [*base, *extra, *project.args, *project.paths]


def environment(project: Project, against: Path | None = None) -> dict[str, str]:
    """A run's environment: the project's variables, no user-supplied pytest options, and
    byte-code caches written, as in a user's run (:func:`warm_up` fills them first). With
    ``against``, that checkout's pytest_memguard is imported instead of the venv's (a
    ``PYTHONPATH`` entry comes before the editable install's finder)."""
    env = {**os.environ, **project.env}
    for name in ("PYTEST_ADDOPTS", "PYTHONDONTWRITEBYTECODE", "PYTHONPATH"):
        env.pop(name, None)
    if against is not None:
        env["PYTHONPATH"] = str(against)
    return env


def warm_up(
    project: Project, src: Path, python: Path, out: Path, timeout: float, against: Path | None
) -> None:
    """Fill the byte-code caches no timed round should pay for: the suite's modules and what
    they import (collected in plain mode), and the plugin's modules (which pytest rewrites
    and caches apart), imported by ``--memguard`` on a one-test file (from ``against``
    too, when given)."""
    env = environment(project)
    run([*command(project, python, "plain", out), "--collect-only"], src, env, None, False, timeout)
    with tempfile.TemporaryDirectory(prefix="memguard-warm-up-") as tmp:
        (Path(tmp) / "test_warm_up.py").write_text("def test_warm_up():\n    pass\n")
        cmd = [str(python), "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:memray"]
        for checkout in (None, against) if against is not None else (None,):
            run(
                [*cmd, "--memguard", "test_warm_up.py"],
                Path(tmp),
                environment(project, checkout),
                None,
                False,
                timeout,
            )


def run_mode(
    project: Project,
    src: Path,
    python: Path,
    mode: str,
    out: Path,
    timeout: float,
    against: Path | None = None,
) -> tuple[float, Completed]:
    """Run one mode once; keep its command, log and time (appended) in ``out``."""
    cmd = command(project, python, mode, out)
    env = environment(project, against if mode == "against" else None)
    (out / f"{mode}.cmd").write_text(" ".join(cmd) + f"\n# cwd: {src}\n")
    if mode in ("memguard", "against"):  # a round that times out leaves no report
        (out / f"{mode}.json").unlink(missing_ok=True)
    start = time.perf_counter()
    proc = run(cmd, cwd=src, env=env, log=out / f"{mode}.log", check=False, timeout=timeout)
    seconds = time.perf_counter() - start
    with (out / f"{mode}.time").open("a") as times:
        times.write(f"{seconds:.3f} {proc.returncode} {'timeout' if proc.timed_out else 'ok'}\n")
    return seconds, proc


def parse_mode(
    mode: str, output: str, seconds: list[float], returncode: int, timed_out: bool
) -> ModeResult:
    """Counts, failed tests and LEAK lines from a pytest log."""
    counts: dict[str, int] = {}
    bad: dict[str, str] = {}
    leak_lines: set[str] = set()
    for line in output.splitlines():
        m = SUMMARY.match(line.strip("= "))
        if m and COUNT.search(m["body"]):
            counts = {}
            for n, word in COUNT.findall(m["body"]):
                counts[word.rstrip("s") if word.startswith("error") else word] = int(n)
        m = OUTCOME_LINE.match(line)
        if m:
            bad.setdefault(m[2], "FAILED" if m[1] == "LEAK" else m[1])
            if m[1] == "LEAK":
                leak_lines.add(m[2])
    return ModeResult(mode, seconds, returncode, timed_out, counts, bad, leak_lines, output)


def load_mode(mode: str, out: Path) -> ModeResult:
    """A mode's result from the files a run left in --keep DIR (--no-run, and after runs)."""
    output = (out / f"{mode}.log").read_text()
    timing = out / f"{mode}.time"
    lines = timing.read_text().split("\n") if timing.exists() else []
    runs = [line.split() for line in lines if line.strip()]
    if runs:
        seconds = [float(fields[0]) for fields in runs]
        returncode = int(runs[-1][1])
        timed_out = runs[-1][2:] == ["timeout"] or "\nTIMEOUT after " in output
    else:  # left by an older version of this script: pytest's own duration
        found = re.findall(r" in ([\d.]+)s", output)
        seconds, returncode, timed_out = [float(found[-1]) if found else math.nan], -1, False
    return parse_mode(mode, output, seconds, returncode, timed_out)


def measure(
    project: Project,
    src: Path,
    python: Path,
    out: Path,
    modes: tuple[str, ...],
    rounds: int,
    timeout: float,
    against: Path | None = None,
) -> dict[str, ModeResult]:
    """Of ``modes``: plain, memguard (and the ``against`` checkout's memguard) ``rounds``
    times, interleaved, then memray once."""
    # out/ holds one invocation's outputs: --no-run must not mix them with an earlier one's
    for mode in MODES:
        for suffix in ("cmd", "log", "time"):
            (out / f"{mode}.{suffix}").unlink(missing_ok=True)
    for report in ("memguard.json", "against.json"):
        (out / report).unlink(missing_ok=True)
    timed = tuple(mode for mode in TIMED_MODES if mode in modes)
    once = [mode for mode in modes if mode not in TIMED_MODES]
    timed_out: set[str] = set()
    if timed:
        warm_up(project, src, python, out, timeout, against)
    for round_index in range(rounds):
        order = timed if round_index % 2 == 0 else timed[::-1]
        plan = [*order, *once] if round_index == 0 else list(order)
        for mode in plan:
            if mode in timed_out:
                continue
            seconds, proc = run_mode(project, src, python, mode, out, timeout, against)
            state = "TIMEOUT" if proc.timed_out else f"rc={proc.returncode}"
            print(
                f"[{project.key}] round {round_index + 1}/{rounds} {mode}: {state} {seconds:.1f}s",
                file=sys.stderr,
                flush=True,
            )
            if proc.timed_out:
                timed_out.add(mode)
    return load_modes(out, modes)


def load_modes(out: Path, modes: tuple[str, ...]) -> dict[str, ModeResult]:
    """Every mode's result: loaded from ``out`` for ``modes``, not run for the others."""
    return {
        mode: load_mode(mode, out) if mode in modes else ModeResult.not_run(mode) for mode in MODES
    }


def _first_chain(record: dict[str, Any]) -> str:
    """The text naming a flagged record's cause: its first finding's chain, else summary."""
    findings = record.get("findings") or [{}]
    chain = findings[0].get("retainer_chain") or []
    return fmt_chain(chain) if chain else f"{findings[0].get('kind')}: {findings[0].get('summary')}"


def _ratio(result: ModeResult, plain: ModeResult) -> float | None:
    """median / plain median; None when either was not run or plain timed out."""
    if not (result.ran and plain.ran) or plain.timed_out:
        return None
    return round(result.median / plain.median, 2)


def summarize(project: Project, results: dict[str, ModeResult], out: Path) -> dict[str, Any]:
    """Everything the table and --details print, JSON-ready."""
    plain, guard, memray = results["plain"], results["memguard"], results["memray"]
    report_path = out / "memguard.json"
    report = json.loads(report_path.read_text()) if guard.ran and report_path.exists() else {}
    records = report.get("tests", [])
    session = report.get("session")
    flagged = {r["nodeid"]: r for r in records if r["verdict"] in FLAGGED_VERDICTS}
    # The JSON report names every flagged test in full; the log's LEAK lines stop a node
    # id at its first space, so they count only when the run wrote no report.
    flagged_ids = set(flagged) if records else set(guard.leak_lines)
    verdicts: dict[str, int] = {}
    for r in records:
        verdicts[r["verdict"]] = verdicts.get(r["verdict"], 0) + 1
    changed = {
        nid: (plain.bad.get(nid, "passed"), guard.bad.get(nid, "passed"))
        for nid in set(plain.bad) | set(guard.bad)
        if guard.ran and plain.bad.get(nid) != guard.bad.get(nid)
    }
    # Outcome changes a leak or over-limit verdict does not explain: plugin bugs. A node
    # id read from the log stops at its first space (a parameter id with spaces).
    other = {
        nid: c
        for nid, c in changed.items()
        if nid not in flagged_ids and not any(full.startswith(nid) for full in flagged_ids)
    }
    changed_memray = {
        nid
        for nid in set(plain.bad) | set(memray.bad)
        if memray.ran and plain.bad.get(nid) != memray.bad.get(nid)
    }
    if session is not None:
        guarded = session.get("guarded") or 0
        suspects_pct = round(100 * session["suspects"] / guarded, 1) if guarded else None
        # Counted apart from the suspects; n/a from a plugin that counts them among those.
        vouched = session.get("vouched")
        vouched_pct = round(100 * vouched / guarded, 1) if guarded and vouched is not None else None
        confirm_seconds = session.get("confirm_seconds")
        roots = session.get("roots", [])
    else:  # a plugin without the session block: roots are the distinct first chains
        suspects_pct = vouched_pct = confirm_seconds = None
        roots = [
            {"root": chain, "tests": sum(_first_chain(r) == chain for r in flagged.values())}
            for chain in sorted({_first_chain(r) for r in flagged.values()})
        ]
    total = sum(v for k, v in plain.counts.items() if k != "deselected")
    return {
        "project": f"{project.name}=={project.version}",
        "key": project.key,
        "version": project.version,
        "style": project.style,
        "tests": total,
        "counts": {m: results[m].counts for m in results},
        "returncodes": {m: results[m].returncode for m in results},
        "timed_out": {m: results[m].timed_out for m in results},
        "seconds": {m: [round(s, 2) for s in results[m].seconds] for m in results},
        "median_seconds": {m: round(r.median, 2) if r.ran else None for m, r in results.items()},
        "ratio_memguard": _ratio(guard, plain),
        "ratio_against": _ratio(results["against"], plain),
        "ratio_memray": _ratio(memray, plain),
        "session_block": session is not None,
        "suspects_pct": suspects_pct,
        "vouched_pct": vouched_pct,
        "confirm_seconds": confirm_seconds,
        "explain_seconds": session.get("explain_seconds") if session else None,
        "roots": roots,
        "verdicts": verdicts,
        "unconfirmed": verdicts.get("unconfirmed", 0),
        "flagged": sorted(flagged_ids),
        "flagged_records": flagged,
        "changed": changed,
        "changed_other": other,
        "changed_memray": sorted(changed_memray),
        "internal_error": "INTERNALERROR" in guard.output,
        "judge_errors": {
            r["nodeid"]: r.get("message", "") for r in records if r["verdict"] == "error"
        },
        "out": str(out),
    }


def fmt_counts(row: dict[str, Any], mode: str) -> str:
    """passed/failed(/E errors), timeout, or - when not run; a root's later tests,
    which memguard counts as leaked, are failed."""
    if row["median_seconds"][mode] is None:
        return "-"
    if row["timed_out"][mode]:
        return "timeout"
    c = row["counts"][mode]
    s = f"{c.get('passed', 0)}/{c.get('failed', 0) + c.get('leaked', 0)}"
    if c.get("error"):
        s += f"/E{c['error']}"
    return s


def fmt_ratio(row: dict[str, Any], mode: str) -> str:
    """A mode's ratio to plain: ``>N x`` (a lower bound) when the mode timed out."""
    ratio = row[f"ratio_{mode}"]
    if ratio is None:
        return "n/a"
    return f">{ratio:.1f}x" if row["timed_out"][mode] else f"{ratio:.2f}x"


def fmt_optional(value: float | None, unit: str = "") -> str:
    """A figure the plugin may not report yet."""
    return "n/a" if value is None else f"{value:.1f}{unit}"


def median_ratio(rows: list[dict[str, Any]], mode: str) -> str:
    """The median of a mode's ratios over the suites; a timed-out suite counts as above all."""
    values = [
        math.inf if row["timed_out"][mode] else row[f"ratio_{mode}"]
        for row in rows
        if row[f"ratio_{mode}"] is not None
    ]
    if not values:
        return "n/a"
    middle = statistics.median(values)
    if math.isinf(middle):
        return "timeout (above the slowest finished suite)"
    return f"{middle:.2f}x"


def print_table(rows: list[dict[str, Any]]) -> None:
    """One line per suite, the legend and the median ratios; with ``--against``, that
    checkout's ratio to plain in a last column (``base/plain``)."""
    against = any(row["ratio_against"] is not None for row in rows)
    head = (
        f"{'project':<26} {'tests':>6} {'plain p/f':>10} {'memguard p/f':>13}"
        f" {'suspects':>9} {'vouched':>8} {'confirm s':>10} {'explain s':>10} {'roots':>6}"
        f" {'flagged':>8}"
        f" {'unconf':>7} {'changed':>8} {'other':>6} {'memray p/f':>11} {'mg/plain':>9}"
        f" {'memray/plain':>13}" + (f" {'base/plain':>11}" if against else "")
    )
    print(head)
    print("-" * len(head))
    for r in rows:
        name = f"{r['key']} {r['version']}"
        print(
            f"{name:<26} {r['tests']:>6} {fmt_counts(r, 'plain'):>10}"
            f" {fmt_counts(r, 'memguard'):>13} {fmt_optional(r['suspects_pct'], '%'):>9}"
            f" {fmt_optional(r.get('vouched_pct'), '%'):>8}"
            f" {fmt_optional(r['confirm_seconds']):>10} {fmt_optional(r['explain_seconds']):>10}"
            f" {len(r['roots']):>6}"
            f" {len(r['flagged']):>8} {r['unconfirmed']:>7}"
            f" {len(r['changed']):>8} {len(r['changed_other']):>6}"
            f" {fmt_counts(r, 'memray'):>11} {fmt_ratio(r, 'memguard'):>9}"
            f" {fmt_ratio(r, 'memray'):>13}"
            + (f" {fmt_ratio(r, 'against'):>11}" if against else "")
        )
    print()
    print(
        f"median over {len(rows)} suites: memguard/plain {median_ratio(rows, 'memguard')}, "
        f"memray/plain {median_ratio(rows, 'memray')}"
        + (f", base/plain {median_ratio(rows, 'against')}" if against else "")
    )
    print()
    print("p/f = passed/failed (/E = errors); suspects = % of guarded tests whose growth")
    print("memguard had to confirm (n/a: the plugin does not report it); vouched = % of guarded")
    print("tests whose growth their parametrized siblings' re-runs vouched for as warm-up, with")
    print("no re-run (n/a: counted among the suspects); confirm s = seconds spent confirming")
    print("suspects (re-runs, holder searches); explain s = seconds spent explaining")
    print("confirmed leaks (a traced run, the chain search, once per root); roots = root causes")
    print("reported (without the plugin's session block: distinct retainer chains of the flagged")
    print("tests' first findings); flagged = verdict leak or over-limit; unconf = verdict")
    print("unconfirmed (past the confirmation budget, passing); changed = tests whose")
    print("pass/fail/error outcome under --memguard differs from plain;")
    print("other = those of them not flagged (a plugin bug: a re-run broke the test, a crash);")
    print("ratios are of median wall times (>N x: the run timed out after N times plain).")


def fmt_chain(chain: list[Any]) -> str:
    """A retainer chain the way code reads it."""
    edges = [e.get("edge", "?") if isinstance(e, dict) else str(e) for e in chain]
    return "".join(e if e[:1] in ".[" or i == 0 else " -> " + e for i, e in enumerate(edges))


def fmt_frame(frame: Any) -> str:
    """One allocation frame."""
    if not isinstance(frame, dict):
        return str(frame)
    return f"{frame.get('filename')}:{frame.get('lineno')}: {frame.get('line', '').strip()}"


def print_details(rows: list[dict[str, Any]]) -> None:
    """Per suite: roots, judge errors, changed outcomes, flagged tests with their findings."""
    for r in rows:
        if not (r["flagged"] or r["changed"] or r["internal_error"] or r["judge_errors"]):
            continue
        print(f"\n## {r['key']} {r['project']}  (outputs in {r['out']})")
        print(f"   memguard verdicts: {r['verdicts']}")
        if r["explain_seconds"] is not None:
            print(f"   explain seconds: {r['explain_seconds']:.1f}")
        if r["internal_error"]:
            print("   INTERNALERROR in the memguard run")
        for root in r["roots"]:
            where = f" in {root['distribution']}" if root.get("distribution") else ""
            first = f", first {root['first']}" if root.get("first") else ""
            kind = f" [{root['kind']}]" if root.get("kind") else ""
            print(f"   root{kind}: {root['root']}{where}: {root['tests']} tests{first}")
            if root.get("summary"):
                print(f"      {root['summary']}")
        for nid, message in sorted(r["judge_errors"].items()):
            print(f"   verdict error (memguard could not judge): {nid}: {message}")
        for nid, (before, after) in sorted(r["changed"].items()):
            print(f"   changed: {nid}: plain {before} -> memguard {after}")
        for nid in r["flagged"]:
            rec = r["flagged_records"].get(nid, {})
            if rec.get("same_root_as"):
                same = rec["same_root_as"]
                print(f"   flagged: {nid}  verdict={rec['verdict']} same root as {same}")
                continue
            print(f"   flagged: {nid}  verdict={rec.get('verdict')}")
            if rec.get("message"):
                print("      " + rec["message"].replace("\n", "\n      "))
            for f in rec.get("findings", []):
                print(f"      - {f.get('kind')}: {f.get('summary')}")
                chain = f.get("retainer_chain") or []
                if chain:
                    print(f"        chain: {fmt_chain(chain)}")
                for frame in (f.get("allocated_at") or [])[:4]:
                    print(f"        at: {fmt_frame(frame)}")


def _repository(value: str) -> Path:
    """argparse type: a pytest-memguard checkout."""
    path = Path(value).resolve()
    if not (path / "pyproject.toml").is_file() or not (path / "pytest_memguard").is_dir():
        raise argparse.ArgumentTypeError(f"{path} is not a pytest-memguard repository")
    return path


def _positive(value: str) -> int:
    """argparse type: an integer >= 1."""
    number = int(value)
    if number < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {number}")
    return number


def _modes(value: str) -> tuple[str, ...]:
    """argparse type: a comma-separated subset of MODES that includes plain."""
    wanted = {mode.strip() for mode in value.split(",") if mode.strip()}
    unknown = wanted - set(MODES)
    if unknown or "plain" not in wanted:
        raise argparse.ArgumentTypeError(
            f"modes are {', '.join(MODES)}, plain always among them (got {value!r})"
        )
    return tuple(mode for mode in MODES if mode in wanted)


def main(argv: list[str] | None = None) -> int:
    """Command line entry point."""
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    ap.add_argument("--only", action="append", metavar="NAME", help="run only this project")
    ap.add_argument("--keep", metavar="DIR", help="work directory to keep (default: a temp dir)")
    ap.add_argument(
        "--no-run", action="store_true", help="only summarize the outputs kept in --keep DIR"
    )
    ap.add_argument("--details", action="store_true", help="list roots, flagged and changed tests")
    ap.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    ap.add_argument(
        "--timeout",
        type=_positive,
        default=DEFAULT_TIMEOUT,
        help="seconds per pytest run, each mode and round; a run past it is killed and shown "
        "as timeout (default %(default)s)",
    )
    ap.add_argument(
        "--rounds",
        type=_positive,
        default=1,
        help="runs of plain and of memguard, interleaved; ratios of medians (default %(default)s)",
    )
    ap.add_argument(
        "--repo",
        type=_repository,
        default=REPO,
        help="the pytest-memguard checkout the venvs install editable (default: %(default)s)",
    )
    ap.add_argument(
        "--against",
        type=_repository,
        metavar="CHECKOUT",
        help="another pytest-memguard checkout (the base of a change), run as mode 'against' "
        "interleaved with plain and memguard in every round: base/plain next to mg/plain",
    )
    ap.add_argument(
        "--modes",
        type=_modes,
        default=tuple(mode for mode in MODES if mode != "against"),
        help="comma-separated modes to run, plain among them (default: plain, memguard, "
        "memray, and against with --against)",
    )
    ap.add_argument("--list", action="store_true", help="list the projects and exit")
    args = ap.parse_args(argv)
    if args.against is not None and "against" not in args.modes:
        args.modes = tuple(mode for mode in MODES if mode in {*args.modes, "against"})
    if args.against is None and "against" in args.modes:
        ap.error("mode 'against' needs --against CHECKOUT")
    projects = PROJECTS
    if args.list:
        for p in projects:
            print(f"{p.key:<18} {p.name + '==' + p.version:<24} {p.style}")
        return 0
    if args.only:
        wanted = {n.lower() for n in args.only}
        projects = [p for p in PROJECTS if p.key.lower() in wanted]
        unknown = wanted - {p.key.lower() for p in projects}
        if unknown:
            ap.error(f"unknown project(s): {', '.join(sorted(unknown))}")
    tmp = None
    if args.no_run and not args.keep:
        ap.error("--no-run needs --keep DIR")
    if args.keep:
        work = Path(args.keep).resolve()
        work.mkdir(parents=True, exist_ok=True)
    else:
        tmp = tempfile.TemporaryDirectory(prefix="memguard-real-")
        work = Path(tmp.name)
    rows = []
    try:
        for project in projects:
            out = work / project.key / "out"
            if args.no_run:
                if not all((out / f"{m}.log").exists() for m in args.modes):
                    print(f"[{project.key}] no complete outputs in {out}", file=sys.stderr)
                    continue
                results = load_modes(out, args.modes)
            else:
                print(f"[{project.key}] preparing in {work / project.key}", file=sys.stderr)
                src, python = prepare(project, work, args.repo)
                out.mkdir(exist_ok=True)
                results = measure(
                    project, src, python, out, args.modes, args.rounds, args.timeout, args.against
                )
            rows.append(summarize(project, results, out))
        print_table(rows)
        if args.details:
            print_details(rows)
        if args.json:
            Path(args.json).write_text(json.dumps(rows, indent=2, default=str))
    finally:
        if tmp is not None:
            tmp.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
