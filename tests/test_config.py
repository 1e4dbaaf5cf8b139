"""Limits, settings and their precedence: marker > CLI > ini > defaults."""

from __future__ import annotations

import json
import pickle

import pytest

from pytest_memguard.config import (
    LIMIT_KEYS,
    Limits,
    MarkerError,
    Settings,
    guard_marks,
    limits_for_item,
    marker_arguments,
    parse_limit,
    resolve_settings,
)

SIZE_ERROR = "expected a size such as '512 B', '1.5 MiB' or '10 KB' (KB = 1000 bytes, KiB = 1024)"
NODEID = "tests/test_a.py::test_x"
#: In-process runs read no ini of ours: pytest-asyncio would warn that its loop scope is unset.
QUIET_PLUGINS = ("-p", "no:asyncio")


# -- Limits -------------------------------------------------------------------------------


def test_limits_defaults_and_json() -> None:
    limits = Limits()
    expected = {
        "retained": 0,
        "retained_objects": 0,
        "peak": None,
        "rss_growth": None,
        "gc_pause": None,
        "gc_collections": None,
        "repeat": 3,
    }
    assert limits.to_dict() == expected
    assert tuple(limits.to_dict()) == LIMIT_KEYS
    assert json.loads(json.dumps(limits.to_dict())) == expected


def test_needs_tracing_follows_peak() -> None:
    assert not Limits().needs_tracing
    assert not Limits(rss_growth=1, gc_pause=0.1).needs_tracing
    assert Limits(peak=0).needs_tracing


def test_parse_limit_rejects_unknown_keys_and_bad_values() -> None:
    with pytest.raises(ValueError, match=r"^leak=1: unknown limit; valid limits are retained, "):
        parse_limit("leak", 1)
    with pytest.raises(ValueError, match=r"^peak='lots': expected a size such as"):
        parse_limit("peak", "lots")


def test_parse_limit_uses_the_parser_of_each_key() -> None:
    assert parse_limit("retained", "1 KB") == 1000
    assert parse_limit("retained", "1 KiB") == 1024
    assert parse_limit("retained_objects", "1_000") == 1000
    assert parse_limit("gc_pause", "150 us") == pytest.approx(150e-6)
    assert parse_limit("gc_collections", 4.0) == 4
    assert parse_limit("repeat", None) is None
    with pytest.raises(ValueError, match=r"^repeat='1 KiB': expected a non-negative whole"):
        parse_limit("repeat", "1 KiB")


# -- markers ------------------------------------------------------------------------------


def test_marker_overrides_base_and_none_switches_off() -> None:
    base = Limits(retained=100, peak=2048, repeat=2)
    limits = limits_for_item(
        base,
        {"retained": "0 B", "peak": None, "gc_pause": "20 ms", "gc_collections": 3},
        (),
        NODEID,
    )
    assert limits == Limits(
        retained=0, retained_objects=0, peak=None, gc_pause=0.02, gc_collections=3, repeat=2
    )


def test_marker_without_arguments_keeps_base() -> None:
    base = Limits(peak=10, repeat=7)
    assert limits_for_item(base, {}, (), NODEID) == base


def test_marker_bad_value() -> None:
    with pytest.raises(MarkerError) as excinfo:
        limits_for_item(Limits(), {"repeat": 5, "peak": "lots"}, (), NODEID)
    error = excinfo.value
    assert (error.nodeid, error.key) == (NODEID, "peak")
    assert error.message == f"argument peak='lots': {SIZE_ERROR}, got 'lots'"
    assert str(error) == (
        f"memguard marker on tests/test_a.py::test_x: argument peak='lots': "
        f"{SIZE_ERROR}, got 'lots'"
    )


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("repeat", True, "expected a non-negative whole number"),
        ("repeat", 2.5, "expected a non-negative whole number"),
        ("retained", -1, "expected a size"),
        ("gc_pause", "20 minutes", "expected a duration"),
        ("retained_objects", "1 KiB", "expected a non-negative whole number"),
    ],
)
def test_marker_bad_values_name_key_and_expected_form(
    key: str, value: object, expected: str
) -> None:
    with pytest.raises(MarkerError) as excinfo:
        limits_for_item(Limits(), {key: value}, (), NODEID)
    assert excinfo.value.key == key
    assert excinfo.value.message.startswith(f"argument {key}={value!r}: {expected}")


def test_marker_unknown_key_names_the_valid_ones() -> None:
    with pytest.raises(MarkerError) as excinfo:
        limits_for_item(Limits(), {"retain": "1 KiB"}, (), NODEID)
    assert excinfo.value.key == "retain"
    assert str(excinfo.value) == (
        "memguard marker on tests/test_a.py::test_x: argument retain='1 KiB': unknown limit; "
        "valid limits are retained, retained_objects, peak, rss_growth, gc_pause, "
        "gc_collections, repeat"
    )


def test_marker_positional_arguments_rejected() -> None:
    with pytest.raises(MarkerError) as excinfo:
        limits_for_item(Limits(), {}, ("50 MiB",), NODEID)
    assert excinfo.value.key is None
    assert str(excinfo.value).startswith(
        "memguard marker on tests/test_a.py::test_x: positional arguments are not accepted, "
        "got ('50 MiB',)"
    )


def test_marker_error_survives_pickling() -> None:
    # Errors cross process boundaries under pytest-xdist.
    error = MarkerError(NODEID, "peak", "argument peak='lots': bad")
    copy = pickle.loads(pickle.dumps(error))
    assert (copy.nodeid, copy.key, copy.message) == (error.nodeid, error.key, error.message)
    assert str(copy) == str(error)


# -- settings resolution ------------------------------------------------------------------


def test_defaults(pytester: pytest.Pytester) -> None:
    assert resolve_settings(pytester.parseconfig()) == Settings()
    assert Settings() == Settings(
        enabled=False,
        limits=Limits(),
        trace=False,
        mode="fail",
        reports=(),
        top=10,
        chains=3,
        chain_timeout=2.0,
        traceback=10,
        sentinels=(),
    )


@pytest.mark.parametrize(
    ("ini", "args", "expected"),
    [
        ("memguard_repeat = 5", ["--memguard-repeat=2"], 2),
        ("memguard_repeat = 5", [], 5),
        ("", [], 3),
        ("", ["--memguard-repeat=0"], 0),
    ],
)
def test_repeat_precedence(
    pytester: pytest.Pytester, ini: str, args: list[str], expected: int
) -> None:
    pytester.makeini(f"[pytest]\n{ini}\n")
    assert resolve_settings(pytester.parseconfig(*args)).limits.repeat == expected


@pytest.mark.parametrize(
    ("ini", "args", "expected"),
    [
        ("memguard = true", [], True),
        ("memguard = false", [], False),
        ("memguard = false", ["--memguard"], True),
        ("", ["--memguard"], True),
        ("", [], False),
    ],
)
def test_enable_from_ini_when_flag_absent(
    pytester: pytest.Pytester, ini: str, args: list[str], expected: bool
) -> None:
    pytester.makeini(f"[pytest]\n{ini}\n")
    assert resolve_settings(pytester.parseconfig(*args)).enabled is expected


def test_enable_from_pyproject_toml_bool(pytester: pytest.Pytester) -> None:
    pytester.makepyprojecttoml(
        "[tool.pytest.ini_options]\nmemguard = true\nmemguard_trace = true\nmemguard_repeat = 4\n"
    )
    settings = resolve_settings(pytester.parseconfig())
    assert settings.enabled is True
    assert settings.trace is True
    assert settings.limits.repeat == 4


def test_every_setting_from_ini(pytester: pytest.Pytester) -> None:
    pytester.makeini(
        """
        [pytest]
        memguard = true
        memguard_retained = 1 KB
        memguard_retained_objects = 10
        memguard_peak = 1.5 MiB
        memguard_rss_growth = 2 MB
        memguard_gc_pause = 20 ms
        memguard_gc_collections = 4
        memguard_repeat = 5
        memguard_trace = yes
        memguard_mode = warn
        memguard_top = 20
        memguard_chains = 1
        memguard_chain_timeout = 500 ms
        memguard_traceback = 30
        memguard_sentinels = -socket,-atexit +thread
        """
    )
    assert resolve_settings(pytester.parseconfig()) == Settings(
        enabled=True,
        limits=Limits(
            retained=1000,
            retained_objects=10,
            peak=1_572_864,
            rss_growth=2_000_000,
            gc_pause=0.02,
            gc_collections=4,
            repeat=5,
        ),
        trace=True,
        mode="warn",
        top=20,
        chains=1,
        chain_timeout=0.5,
        traceback=30,
        sentinels=("-socket", "-atexit", "+thread"),
    )


def test_cli_overrides_every_ini_value(pytester: pytest.Pytester) -> None:
    pytester.makeini(
        """
        [pytest]
        memguard_retained = 1 KB
        memguard_peak = 1 MiB
        memguard_mode = warn
        memguard_top = 20
        memguard_chain_timeout = 5 s
        memguard_sentinels = -socket
        """
    )
    config = pytester.parseconfig(
        "--memguard",
        "--memguard-retained=1 KiB",
        "--memguard-peak=2MiB",
        "--memguard-gc-pause=150us",
        "--memguard-trace",
        "--memguard-mode=fail",
        "--memguard-top=3",
        "--memguard-chain-timeout=0.25",
        "--memguard-sentinels=-atexit,-thread",
        "--memguard-report=json:out/mem.json",
        "--memguard-report=HTML:mem.html",
    )
    assert resolve_settings(config) == Settings(
        enabled=True,
        limits=Limits(retained=1024, peak=2 * 1024**2, gc_pause=150e-6),
        trace=True,
        mode="fail",
        reports=(("json", "out/mem.json"), ("html", "mem.html")),
        top=3,
        chain_timeout=0.25,
        sentinels=("-atexit", "-thread"),
    )


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("memguard_peak = lots", f"memguard: ini option memguard_peak: {SIZE_ERROR}, got 'lots'"),
        ("memguard_repeat = -1", "memguard: ini option memguard_repeat: expected a non-negative"),
        ("memguard_gc_pause = 1 h", "memguard: ini option memguard_gc_pause: expected a duration"),
        (
            "memguard_mode = explode",
            "memguard: ini option memguard_mode: expected 'fail' or 'warn'",
        ),
        ("memguard_sentinels = socket", "memguard: ini option memguard_sentinels: sentinel swi"),
        ("memguard = maybe", "memguard: ini option memguard: invalid truth value 'maybe'"),
    ],
)
def test_bad_ini_value_is_usage_error_naming_the_key(
    pytester: pytest.Pytester, line: str, expected: str
) -> None:
    pytester.makeini(f"[pytest]\n{line}\n")
    config = pytester.parseconfig()
    with pytest.raises(pytest.UsageError) as excinfo:
        resolve_settings(config)
    assert str(excinfo.value).startswith(expected)


def test_bad_ini_value_ignored_when_cli_gives_the_value(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\nmemguard_peak = lots\n")
    assert resolve_settings(pytester.parseconfig("--memguard-peak=1 KB")).limits.peak == 1000


def test_bad_ini_value_stops_the_session(pytester: pytest.Pytester) -> None:
    """End to end: plugin.py resolves the settings in pytest_configure, before any test."""
    pytester.makeini("[pytest]\nmemguard_peak = lots\n")
    pytester.makepyfile("def test_never_runs(): pass")
    result = pytester.runpytest(*QUIET_PLUGINS)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [f"ERROR: memguard: ini option memguard_peak: {SIZE_ERROR}, got 'lots'"]
    )
    result.stdout.no_fnmatch_line("*test_never_runs*")


# -- command line -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("arg", "expected"),
    [
        ("--memguard-peak=lots", f"*argument --memguard-peak: {SIZE_ERROR}, got 'lots'"),
        ("--memguard-retained=-1 B", "*argument --memguard-retained: expected a size such as*"),
        ("--memguard-repeat=many", "*argument --memguard-repeat: expected a non-negative whole*"),
        ("--memguard-gc-pause=1 h", "*argument --memguard-gc-pause: expected a duration such as*"),
        ("--memguard-mode=ignore", "*argument --memguard-mode: expected 'fail' or 'warn'*"),
        ("--memguard-report=xml:m.xml", "*argument --memguard-report: expected FORMAT:PATH*"),
        ("--memguard-report=json", "*argument --memguard-report: expected FORMAT:PATH*"),
        ("--memguard-report=json:", "*argument --memguard-report: expected FORMAT:PATH*"),
        (
            "--memguard-sentinels=-socket,+9lives",
            "*argument --memguard-sentinels: unknown sentinel '9lives'; valid: thread,*",
        ),
        ("--memguard-chain-timeout=soon", "*argument --memguard-chain-timeout: expected a dur*"),
    ],
)
def test_bad_cli_value_is_usage_error(pytester: pytest.Pytester, arg: str, expected: str) -> None:
    pytester.makepyfile("def test_never_runs(): pass")
    result = pytester.runpytest(arg, *QUIET_PLUGINS)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([expected])
    result.stdout.no_fnmatch_line("*test_never_runs*")


def test_help_lists_options_and_ini_keys(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--help", *QUIET_PLUGINS)
    assert result.ret == pytest.ExitCode.OK
    result.stdout.fnmatch_lines(
        [
            "memory-regression testing (pytest-memguard):",
            "  --memguard *guard every test*",
            "  --memguard-retained=SIZE*",
            "  --memguard-retained-objects=N*",
            "  --memguard-peak=SIZE*",
            "  --memguard-rss-growth=SIZE*",
            "  --memguard-gc-pause=DURATION*",
            "  --memguard-gc-collections=N*",
            "  --memguard-repeat=N*",
            "  --memguard-trace*",
            "  --memguard-mode=fail|warn*",
            "  --memguard-top=N*",
            "  --memguard-chains=N*",
            "  --memguard-chain-timeout=DURATION*",
            "  --memguard-traceback=N*",
            "  --memguard-sentinels=LIST*",
            "  --memguard-report=FORMAT:PATH*",
        ]
    )
    result.stdout.fnmatch_lines(
        [
            "  memguard (bool):*",
            "  memguard_retained (string):*",
            "*leak limit: bytes a test may leave alive*",
            "  memguard_peak (string):*",
            "  memguard_repeat (string):*",
            "  memguard_trace (bool):*",
            "  memguard_sentinels (args):*",
        ]
    )
    # A percentage is shown as it is written, under the flag and the ini key alike.
    assert result.stdout.str().count("as a percentage such as 10%;") == 2


def test_markers_merge_and_the_closest_wins_key_by_key(pytester):
    pytester.makepyfile(
        """
        import pytest

        pytestmark = pytest.mark.memguard(repeat=5, peak="1 MiB")

        class TestCases:
            pytestmark = pytest.mark.memguard(peak="2 MiB")

            @pytest.mark.parametrize(
                "case", [1, pytest.param(2, marks=pytest.mark.memguard(rss_growth="4 MiB"))]
            )
            @pytest.mark.memguard(rss_growth="3 MiB")
            def test_case(self, case):
                pass

        def test_unmarked_here():
            pass
        """
    )
    items, _ = pytester.inline_genitems(*QUIET_PLUGINS)

    merged = {item.name: marker_arguments(guard_marks(item)) for item in items}

    assert merged == {
        "test_case[1]": ({"repeat": 5, "peak": "2 MiB", "rss_growth": "3 MiB"}, ()),
        "test_case[2]": ({"repeat": 5, "peak": "2 MiB", "rss_growth": "4 MiB"}, ()),
        "test_unmarked_here": ({"repeat": 5, "peak": "1 MiB"}, ()),
    }
