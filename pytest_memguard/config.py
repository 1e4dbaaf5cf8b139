"""Limits and settings of pytest-memguard, with precedence marker > CLI > ini > defaults.

Every option is declared once in ``_OPTIONS`` and gives both a command-line option
(``--memguard-peak``) and an ini key (``memguard_peak``) with the same help text. CLI
values are converted while pytest parses the command line, so a bad one is a usage error
(exit code 4) before any test runs; ini values are converted by :func:`resolve_settings`
and marker arguments per test by :func:`limits_for_item`. Every error names where the bad
value came from.
"""

from __future__ import annotations

import argparse
import functools
import itertools
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal, NamedTuple

import pytest

from pytest_memguard.confirm.budget import ALLOWANCE_SECONDS, DEFAULT_SHARE, SMALL_SUITE_TESTS
from pytest_memguard.figures import LIMITS, PARSERS
from pytest_memguard.sentinels import sentinel_switches
from pytest_memguard.sentinels.base import ALLOW_NONE, Allow, parse_allow
from pytest_memguard.sentinels.registries import RegistryPath
from pytest_memguard.units import (
    format_duration,
    format_size,
    parse_count,
    parse_duration,
    parse_percent,
    parse_size,
)

#: The limit keys: the public names of marker arguments, ``Limits`` fields and JSON keys.
LIMIT_KEYS: tuple[str, ...] = tuple(name.name for name in LIMITS)

_LIMIT_PARSERS: dict[str, Callable[[Any], int | float]] = {
    name.name: PARSERS[name.unit] for name in LIMITS
}

MODES: tuple[str, ...] = ("fail", "warn")

#: The fine-grained verbosity type of pytest-memguard (``Config.get_verbosity``).
VERBOSITY_TYPE = "memguard"
REPORT_FORMATS: tuple[str, ...] = ("json", "html")


def parse_limit(key: str, value: Any) -> int | float | None:
    """Convert one limit value (``"1.5 MiB"``, ``"20 ms"``, ``3``...) for ``key``.

    ``None`` switches the limit off. Raises ``ValueError`` naming the key and the value
    for an unknown key or a value of the wrong form.
    """
    parse = _LIMIT_PARSERS.get(key)
    if parse is None:
        raise ValueError(
            f"{key}={value!r}: unknown limit; valid limits are {', '.join(LIMIT_KEYS)}"
        )
    if value is None:
        return None
    try:
        return parse(value)
    except ValueError as exc:
        raise ValueError(f"{key}={value!r}: {exc}") from exc


@dataclass(frozen=True)
class Limits:
    """The limits a guarded test is checked against, in bytes, seconds or counts.

    ``None`` means the limit is off. ``retained`` and ``retained_objects`` are leak
    limits: a test whose attributed retained bytes or objects exceed them is a suspect,
    confirmed by ``repeat`` repetitions. Their default of 0 is deliberate: warm-up is
    told apart by repetition and attribution, not by a threshold.
    """

    retained: int | None = 0
    retained_objects: int | None = 0
    peak: int | None = None
    rss_growth: int | None = None
    gc_pause: float | None = None
    gc_collections: int | None = None
    repeat: int | None = 3

    def to_dict(self) -> dict[str, Any]:
        """Return the limits as a JSON-safe dict keyed by limit key (a new one per call:
        each test's record gets its own)."""
        return dict(self._items)

    @functools.cached_property
    def _items(self) -> tuple[tuple[str, Any], ...]:
        # Read once: every guarded test's record holds the limits.
        return tuple((key, getattr(self, key)) for key in LIMIT_KEYS)

    @property
    def needs_tracing(self) -> bool:
        """Whether these limits need tracemalloc (``peak`` is a tracemalloc figure)."""
        return self.peak is not None


@dataclass(frozen=True)
class Settings:
    """The pytest-memguard settings of one session, resolved once at configure time.

    ``trace`` is the user's request for tracemalloc in every guarded test; a test whose
    limits need it (see :attr:`Limits.needs_tracing`) is traced regardless.
    ``reports`` holds ``(format, path)`` pairs; ``sentinels`` the raw switches of
    ``--memguard-sentinels``, such as ``("-socket", "-atexit")``; ``allow`` the
    sentinels' allow-list (ini ``memguard_allow``) and ``registries`` the project's
    registries of callables to watch (ini ``memguard_registries``). History: ``db`` is
    the database path (None: the default), ``save`` a run name ("" saves unnamed),
    ``compare`` a run reference or baseline file, ``compare_fail`` the check text.
    ``known`` is the path of the known-leak baseline, if any. ``confirm_budget`` is the
    share of the screened runs' time that re-running suspects may add (past a fixed
    allowance). ``verbose`` shows every
    finding under a failing test (``-v``, or the ini key ``verbosity_memguard``).
    """

    enabled: bool = False
    limits: Limits = field(default_factory=Limits)
    trace: bool = False
    mode: str = "fail"
    reports: tuple[tuple[str, str], ...] = ()
    top: int = 10
    chains: int = 3
    chain_timeout: float = 2.0
    confirm_budget: float = DEFAULT_SHARE
    traceback: int = 10
    sentinels: tuple[str, ...] = ()
    allow: Allow = ALLOW_NONE
    registries: tuple[RegistryPath, ...] = ()
    db: str | None = None
    save: str | None = None
    compare: str | None = None
    compare_fail: str | None = None
    known: str | None = None
    verbose: bool = False


def _parse_mode(value: str) -> str:
    mode = value.strip().lower()
    if mode not in MODES:
        raise ValueError(f"expected 'fail' or 'warn', got {value!r}")
    return mode


def _parse_report(value: str) -> tuple[str, str]:
    report_format, sep, path = value.partition(":")
    report_format = report_format.strip().lower()
    if not sep or report_format not in REPORT_FORMATS or not path.strip():
        raise ValueError(
            f"expected FORMAT:PATH with FORMAT json or html, such as 'json:memguard.json', "
            f"got {value!r}"
        )
    return report_format, path.strip()


class _Option(NamedTuple):
    """One setting: the CLI option ``--memguard-x-y`` and the ini key ``memguard_x_y``."""

    name: str
    setting: str
    help: str
    metavar: str | None = None  # None: a store_true flag and a bool ini key
    parse: Callable[[Any], Any] | None = None
    ini_type: Literal["string", "bool", "args"] = "string"
    #: How the default reads when its value does not say it (an empty list of switches).
    default_text: str = ""

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")

    @property
    def help_text(self) -> str:
        """The help, with the default read from :class:`Limits` or :class:`Settings`."""
        if self.metavar is None:  # a flag: off unless given
            return self.help
        return f"{self.help} (default: {self.default_text or _default_of(self)})"


def _default_of(option: _Option) -> str:
    """The default value of ``option``'s setting, written in its unit."""
    source: object = Limits() if option.setting in Limits.__dataclass_fields__ else Settings()
    value = getattr(source, option.setting)
    if value is None:
        return "off"
    if option.metavar == "SIZE":
        return format_size(value)
    if option.metavar == "DURATION":
        return format_duration(value)
    if option.metavar == "PERCENT":
        return f"{value * 100:g} percent"
    return str(value)


_OPTIONS: tuple[_Option, ...] = (
    _Option(
        "memguard",
        "enabled",
        "guard every test (except those marked no_memguard) with the configured limits",
        ini_type="bool",
    ),
    _Option(
        "memguard_retained",
        "retained",
        "leak limit: bytes a test may leave alive after teardown, confirmed by repetition",
        "SIZE",
        parse_size,
    ),
    _Option(
        "memguard_retained_objects",
        "retained_objects",
        "leak limit: objects a test may leave alive after teardown, confirmed by repetition",
        "N",
        parse_count,
    ),
    _Option(
        "memguard_peak",
        "peak",
        "limit on the tracemalloc peak during a test, such as '50 MiB'; turns tracing on",
        "SIZE",
        parse_size,
    ),
    _Option(
        "memguard_rss_growth",
        "rss_growth",
        "limit on resident memory growth over a test, such as '100 MB'",
        "SIZE",
        parse_size,
    ),
    _Option(
        "memguard_gc_pause",
        "gc_pause",
        "limit on the longest garbage collection during a test, such as '20 ms'",
        "DURATION",
        parse_duration,
    ),
    _Option(
        "memguard_gc_collections",
        "gc_collections",
        "limit on the number of garbage collections during a test",
        "N",
        parse_count,
    ),
    _Option(
        "memguard_repeat",
        "repeat",
        "repetitions that confirm a suspected leak; 0 turns confirmation off",
        "N",
        parse_count,
    ),
    _Option(
        "memguard_trace",
        "trace",
        "run tracemalloc in every guarded test, for peak and traced figures (slower)",
        ini_type="bool",
    ),
    _Option(
        "memguard_mode",
        "mode",
        "fail: a memory verdict fails the test; warn: it is only reported",
        "fail|warn",
        _parse_mode,
    ),
    _Option(
        "memguard_top",
        "top",
        "number of tests in the terminal summary table",
        "N",
        parse_count,
    ),
    _Option(
        "memguard_chains",
        "chains",
        "retainer chains shown per finding",
        "N",
        parse_count,
    ),
    _Option(
        "memguard_chain_timeout",
        "chain_timeout",
        "time budget for finding the retainer chains of one test",
        "DURATION",
        parse_duration,
    ),
    _Option(
        "memguard_confirm_budget",
        "confirm_budget",
        "share of the suite's own run time that re-running suspects may add, past a "
        f"fixed {ALLOWANCE_SECONDS:g} s (less for a suite of more than {SMALL_SUITE_TESTS} "
        "tests), as a percentage such as 10%; suspects beyond it are reported as "
        "unconfirmed",
        "PERCENT",
        parse_percent,
    ),
    _Option(
        "memguard_traceback",
        "traceback",
        "allocation traceback frames kept per finding",
        "N",
        parse_count,
    ),
    _Option(
        "memguard_sentinels",
        "sentinels",
        "comma-separated switches for the leftover-resource sentinels: -NAME switches one "
        "off, +NAME on again, such as '-socket,-atexit'",
        "LIST",
        sentinel_switches,
        ini_type="args",
        default_text="all on",
    ),
    _Option(
        "memguard_known",
        "known",
        "known-leak baseline written by 'memguard export RUN --known-leaks PATH.json': "
        "the leaks listed there pass as 'known', new leaks still fail",
        "PATH",
        str,
    ),
)


def _parse_registries(entries: list[str]) -> tuple[RegistryPath, ...]:
    return tuple(RegistryPath.parse(entry) for entry in entries if entry.strip())


#: ini-only keys of the sentinels: one entry per line, each checked by ``parse``.
_SENTINEL_INI: tuple[tuple[str, str, str, Callable[[list[str]], Any]], ...] = (
    (
        "memguard_allow",
        "allow",
        "leftover resources not to report, one per line: thread:NAME-GLOB, "
        "module:MODULE-GLOB or logger:NAME-GLOB",
        parse_allow,
    ),
    (
        "memguard_registries",
        "registries",
        "the project's registries of callables to watch for leaked listeners, one per "
        "line: MODULE:ATTRIBUTE.PATH to a dict, list or set of callables, such as "
        "app.events:bus._listeners",
        _parse_registries,
    ),
)

_REPORT_HELP = (
    "write a per-test memory report to PATH, FORMAT json or html, such as "
    "json:memguard.json; may be given more than once"
)


def _cli_type(parse: Callable[[Any], Any]) -> Callable[[str], Any]:
    """Wrap a parser as an argparse ``type=``: a bad value becomes a clean usage error."""

    def convert(text: str) -> Any:
        try:
            return parse(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from exc

    return convert


def add_options(parser: pytest.Parser) -> None:
    """Register the ``memguard`` option group and the matching ``memguard_*`` ini keys.

    Every CLI option defaults to ``None``, so :func:`resolve_settings` can tell "not
    given" apart and fall back to the ini key; flags included (an ini ``memguard = true``
    must not be hidden by a flag that defaults to False).
    """
    group = parser.getgroup("memguard", "memory-regression testing (pytest-memguard)")
    for option in _OPTIONS:
        if option.parse is None:
            group.addoption(
                option.flag,
                action="store_true",
                default=None,
                dest=option.name,
                help=option.help_text.replace("%", "%%"),  # argparse formats it
            )
        else:
            group.addoption(
                option.flag,
                metavar=option.metavar,
                type=_cli_type(option.parse),
                default=None,
                dest=option.name,
                help=option.help_text.replace("%", "%%"),
            )
        parser.addini(option.name, option.help_text, type=option.ini_type, default=None)
    for name, _, help_text, _ in _SENTINEL_INI:
        parser.addini(name, help_text, type="linelist", default=[])
    parser.addini(
        f"verbosity_{VERBOSITY_TYPE}",
        "verbosity of the findings under a failing test: 0 the worst one, 1 all of them "
        "(default: auto, pytest's -v level)",
        default="auto",
    )
    group.addoption(
        "--memguard-report",
        metavar="FORMAT:PATH",
        action="append",
        type=_cli_type(_parse_report),
        default=None,
        dest="memguard_report",
        help=_REPORT_HELP,
    )
    _add_history_options(group)


def _parse_compare_fail(value: str) -> str:
    from pytest_memguard.history.compare import parse_checks

    parse_checks(value)
    return value


def _add_history_options(group: pytest.OptionGroup) -> None:
    group.addoption(
        "--memguard-db",
        metavar="PATH",
        default=None,
        help="history database (default: .memguard/history.sqlite under the rootdir)",
    )
    group.addoption(
        "--memguard-save",
        metavar="NAME",
        nargs="?",
        const="",
        default=None,
        help="save this run's figures in the history, optionally under NAME",
    )
    group.addoption(
        "--memguard-compare",
        metavar="RUN",
        nargs="?",
        const="latest",
        default=None,
        help="compare each test with a saved run: its id, name, 'latest' (the default) "
        "or an exported baseline PATH.json",
    )
    group.addoption(
        "--memguard-compare-fail",
        metavar="EXPR",
        type=_cli_type(_parse_compare_fail),
        default=None,
        help="fail the session when a test grew past a threshold against the compared run, "
        "such as retained:10%%,peak:5MiB,gc_pause:20ms",
    )


#: Options whose value is optional: ``--memguard-save test_x.py`` takes the path as the
#: run's name, and pytest then runs the whole folder.
_OPTIONAL_VALUES = ("--memguard-save", "--memguard-compare")


def _is_test_path(value: str, invocation_dir: Path) -> bool:
    if value.endswith(".json"):  # a baseline file: --memguard-compare's value
        return False
    return "::" in value or (invocation_dir / value).exists()


def check_optional_values(args: Sequence[str], invocation_dir: Path) -> None:
    """Refuse a test path taken as the value of an option whose value is optional.

    Raises ``pytest.UsageError`` naming the option and the path, and how to write it.
    """
    for flag, value in itertools.pairwise(args):
        if flag in _OPTIONAL_VALUES and _is_test_path(value, invocation_dir):
            raise pytest.UsageError(
                f"memguard: {flag} took {value!r} as its value, but it is a test path: "
                f"write {flag}=NAME, or put {flag} after the test paths"
            )


def _lookup(config: pytest.Config, option: _Option) -> Any:
    """Return the value from the CLI, else from the ini file, else ``None``."""
    value = config.getoption(option.name)
    if value is not None:
        return value
    try:
        value = config.getini(option.name)
        if value is None or option.parse is None:
            return value
        return option.parse(value)
    except (ValueError, pytest.UsageError) as exc:
        raise pytest.UsageError(f"memguard: ini option {option.name}: {exc}") from exc


def resolve_settings(config: pytest.Config) -> Settings:
    """Resolve the session's settings: CLI over ini over defaults.

    Raises ``pytest.UsageError`` naming the ini key when an ini value is invalid (CLI
    values were already checked when the command line was parsed), and when a test path
    was taken as the value of ``--memguard-save`` or ``--memguard-compare``.
    """
    check_optional_values(
        [str(arg) for arg in config.invocation_params.args], config.invocation_params.dir
    )
    found = {
        option.setting: value
        for option in _OPTIONS
        if (value := _lookup(config, option)) is not None
    }
    for name, setting, _, parse in _SENTINEL_INI:
        try:
            found[setting] = parse(config.getini(name))
        except ValueError as exc:
            raise pytest.UsageError(f"memguard: ini option {name}: {exc}") from exc
    limits = Limits(**{key: found.pop(key) for key in LIMIT_KEYS if key in found})
    reports = tuple(config.getoption("memguard_report") or ())
    history = {
        key: config.getoption(f"memguard_{key}")
        for key in ("db", "save", "compare", "compare_fail")
    }
    return Settings(limits=limits, reports=reports, verbose=_verbose(config), **history, **found)


def _verbose(config: pytest.Config) -> bool:
    try:
        return config.get_verbosity(VERBOSITY_TYPE) > 0
    except ValueError as exc:
        raise pytest.UsageError(
            f"memguard: ini option verbosity_{VERBOSITY_TYPE}: expected a number or 'auto' ({exc})"
        ) from exc


class MarkerError(Exception):
    """A ``memguard`` marker with a bad argument; ``key`` is None for positional ones."""

    def __init__(self, nodeid: str, key: str | None, message: str) -> None:
        super().__init__(nodeid, key, message)
        self.nodeid = nodeid
        self.key = key
        self.message = message

    def __str__(self) -> str:
        return f"memguard marker on {self.nodeid}: {self.message}"


#: The markers a test's guarding is read from.
GUARD_MARKERS = frozenset({"memguard", "no_memguard"})


def guard_marks(item: pytest.Item) -> list[pytest.Mark]:
    """The ``memguard`` and ``no_memguard`` marks of a test and of the nodes above it,
    the farthest node's first: one walk up its chain, read for every guarded test."""
    return [
        mark for node in item.listchain() for mark in node.own_markers if mark.name in GUARD_MARKERS
    ]


def marker_arguments(
    marks: Iterable[pytest.Mark],
) -> tuple[dict[str, Any], tuple[Any, ...]] | None:
    """The arguments of every ``memguard`` mark of a test (its :func:`guard_marks`),
    merged; None without one.

    The closest marker wins, key by key: a ``pytest.param`` case's over its function's,
    the function's over its class's and module's (``pytestmark``).
    """
    marks = [mark for mark in marks if mark.name == "memguard"]
    if not marks:
        return None
    kwargs: dict[str, Any] = {}
    for mark in marks:  # farthest first: pytest appends a case's marks after its function's
        kwargs.update(mark.kwargs)
    return kwargs, tuple(arg for mark in marks for arg in mark.args)


def limits_for_item(
    base: Limits, marker_kwargs: dict[str, Any], marker_args: tuple[Any, ...], nodeid: str
) -> Limits:
    """Return ``base`` overridden by the arguments of a test's ``memguard`` marker.

    Marker values may be strings (``"1.5 MiB"``, ``"20 ms"``), ints, floats, or None to
    switch a limit off. Raises :class:`MarkerError` for positional arguments, unknown
    keys and bad values.
    """
    if marker_args:
        raise MarkerError(
            nodeid,
            None,
            f"positional arguments are not accepted, got {marker_args!r}; "
            f"pass limits by name, such as memguard(peak='50 MiB')",
        )
    overrides: dict[str, Any] = {}
    for key, value in marker_kwargs.items():
        try:
            overrides[key] = parse_limit(key, value)
        except ValueError as exc:
            raise MarkerError(nodeid, key, f"argument {exc}") from exc
    return replace(base, **overrides)
