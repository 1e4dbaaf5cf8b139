"""Stable verdicts: a test's verdict does not depend on which process runs it, or first.

The first test of a process used to be ``warmup`` (CPython and pytest fill caches on
first use), so serial and ``-n 2`` runs disagreed. The warm-up before the first window
(:mod:`pytest_memguard.screen.warmup`) fills them; these runs compare verdicts test by test.
"""

from __future__ import annotations

import abc
import gc
import json
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from pytest_memguard.screen.warmup import track_dicts, warm_abc_caches

RunPytest = Callable[..., pytest.RunResult]

EXAMPLES = Path(__file__).parent.parent / "examples"

#: A small suite as real ones look: plain asserts, fixtures, parametrised cases, a
#: class, standard-library calls that fill caches once, and the first test empty. A
#: cache filled once is warm-up in the test that fills it: each is used by one test,
#: as a test whose warm-up another test may have done (in another process, or not)
#: is warm-up in one order and ok in the other.
GENERATED = {
    "test_alpha": """
        import json
        import re

        import pytest

        def test_empty():
            pass

        @pytest.fixture
        def record():
            return {"name": "a", "tags": ["x", "y"]}

        def test_fixture(record):
            assert json.loads(json.dumps(record)) == record

        @pytest.mark.parametrize("text", ["1", "22", "333"])
        def test_cases(text):
            assert int(text) * 2 == int(text) + int(text)

        def test_regex():
            assert re.fullmatch(r"[a-z]\\d+", "a1")
    """,
    "test_beta": """
        import collections
        import decimal

        class TestCounts:
            def test_counter(self):
                assert collections.Counter("abca")["a"] == 2

            def test_decimal(self, tmp_path):
                (tmp_path / "d.txt").write_text(str(decimal.Decimal("1.10") * 3))

        def test_last():
            assert sorted({3, 1, 2}) == [1, 2, 3]
    """,
}


def verdicts(pytester: pytest.Pytester, run_pytest: RunPytest, *args: str) -> dict[str, str]:
    report = pytester.path / "mem.json"
    report.unlink(missing_ok=True)
    # xdist loaded in the serial run too: the same plugins in both, only -n differs.
    run_pytest("--memguard", "-p", "xdist", "--memguard-report=json:mem.json", *args)
    tests = json.loads(report.read_text())["tests"]
    return {test["nodeid"]: test["verdict"] for test in tests}


def test_generated_suite_is_ok_first_and_the_same_under_xdist(
    pytester: pytest.Pytester, run_pytest: RunPytest
) -> None:
    pytester.makepyfile(**{name: textwrap.dedent(code) for name, code in GENERATED.items()})
    serial = verdicts(pytester, run_pytest)
    assert len(serial) == 9
    assert serial["test_alpha.py::test_empty"] == "ok"  # the first test of the process
    assert verdicts(pytester, run_pytest, "-n", "2") == serial


def test_examples_verdicts_are_the_same_serially_and_under_xdist(
    pytester: pytest.Pytester, run_pytest: RunPytest
) -> None:
    shutil.copytree(EXAMPLES / "shop", pytester.path / "shop")
    shutil.copy(EXAMPLES / "test_shop.py", pytester.path)
    serial = verdicts(pytester, run_pytest, "test_shop.py")
    assert "leak" in serial.values()
    assert verdicts(pytester, run_pytest, "test_shop.py", "-n", "2") == serial


def test_warm_abc_caches_answers_the_runner_hierarchies_first() -> None:
    from _pytest.nodes import Item
    from _pytest.python import Module

    warm_abc_caches({"_pytest"}, [Module])
    negative = abc._get_dump(Item)[2]  # type: ignore[attr-defined]
    assert Module in {ref() for ref in negative}  # isinstance(module, Item) is answered
    size = len(negative)
    warm_abc_caches({"_pytest"}, [Module])  # asking again adds nothing
    assert len(abc._get_dump(Item)[2]) == size  # type: ignore[attr-defined]


def test_track_dicts_tracks_only_untracked_plain_dicts() -> None:
    untracked: dict[str, int] = {"a": 1}
    tracked: dict[str, list[int]] = {"a": []}

    class Sub(dict):  # type: ignore[type-arg]
        def __setitem__(self, key: object, value: object) -> None:
            raise AssertionError("a subclass is never written to")

    sub = Sub()
    assert not gc.is_tracked(untracked) and gc.is_tracked(tracked)
    assert track_dicts([untracked, tracked, sub, 3, "x"]) == 1
    assert gc.is_tracked(untracked) and untracked == {"a": 1}


_FIRST_REPR = """
import gc, sys
from pytest_memguard.screen.warmup import warm_repr_state
if sys.argv[1] == "warm":
    warm_repr_state()
gc.collect()
gc.freeze()
repr({"a": [1]})
print(sum(1 for obj in gc.get_objects() if type(obj) is list and obj == []))
"""


@pytest.mark.parametrize(("warm", "made"), [("cold", "1"), ("warm", "0")])
def test_the_repr_state_is_made_before_the_first_window(warm: str, made: str) -> None:
    """``Py_ReprEnter`` keeps a list in the thread state's dict, made by the first repr
    of a non-empty container in a thread (a fresh interpreter's): after the warm-up's
    repr, a test's first container repr makes no object the collector tracks."""
    result = subprocess.run(
        [sys.executable, "-c", _FIRST_REPR, warm], capture_output=True, text=True, check=True
    )
    assert result.stdout.split() == [made]
