"""Blame: a resource test A leaves behind and that surfaces during test B is charged to A.

Each scenario runs in a child pytest (``run_pytest``) under ``--memguard`` with a JSON
report: B's verdict must stay ``ok``, and B's record carries the charge naming A (and
where A created the resource, when tracemalloc knew it); the terminal summary says so.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

import pytest

from pytest_memguard.findings import Finding
from pytest_memguard.sentinels.blame import Ledger, watch_descriptor, watch_object

RUN = ("--memguard", "-p", "no:randomly", "--memguard-report=json:mem.json")


def records(path: Path) -> dict[str, dict[str, Any]]:
    """The JSON report's records, by test name."""
    document = json.loads((path / "mem.json").read_text())
    return {test["nodeid"].split("::")[-1]: test for test in document["tests"]}


def charges_of(record: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [charge for charge in record.get("blame", []) if charge["kind"] == kind]


def test_task_leaked_in_a_and_destroyed_during_b_is_charged_to_a(pytester, run_pytest):
    pytester.makepyfile(
        test_tasks=textwrap.dedent(
            """
            import asyncio

            PENDING = []

            async def fetch():
                await asyncio.sleep(3600)

            def test_a_leaks_task():
                loop = asyncio.new_event_loop()
                PENDING.append(loop.create_task(fetch(), name="fetch"))
                loop.close()

            def test_b_innocent():
                PENDING.clear()  # the last reference: A's tasks are destroyed here
            """
        )
    )
    # Its coroutine's "never awaited" RuntimeWarning would add an entry to the test
    # module's __warningregistry__ during B: a young object any warning leaves, which
    # makes the warning test a (passing) warm-up suspect whoever caused it.
    result = run_pytest(*RUN, "-rA", "-W", "ignore:coroutine:RuntimeWarning")
    found = records(pytester.path)
    assert found["test_a_leaks_task"]["verdict"] == "leak"
    assert found["test_b_innocent"]["verdict"] == "ok", found["test_b_innocent"]["message"]
    assert found["test_a_leaks_task"]["blame"] == []
    charges = charges_of(found["test_b_innocent"], "task")
    assert charges, found["test_b_innocent"]
    for charge in charges:
        assert charge["created_by"] == "test_tasks.py::test_a_leaks_task"
        assert charge["surfaced_in"] == "test_tasks.py::test_b_innocent"
        assert "asyncio task 'fetch'" in charge["summary"]
        assert "destroyed while still pending" in charge["event"]
    # The repetition that explains A runs traced: its task's creation site is known.
    sites = [frame["line"] for charge in charges for frame in charge["created_at"]]
    assert any("loop.create_task(fetch()" in line for line in sites), sites
    # The symptom shows under B, the charge names A.
    assert "Task was destroyed but it is pending!" in result.stdout.str()
    summary = result.stdout.str().split("memguard ===")[-1]
    assert "left behind by one test, surfaced in another (charged to the first):" in summary
    assert "test_tasks.py::test_a_leaks_task: task: asyncio task 'fetch'" in summary
    assert "called from test_tasks.py:10: PENDING.append(loop.create_task(" in summary
    assert "during test_tasks.py::test_b_innocent" in summary


def test_thread_from_a_allocating_during_b_does_not_flag_b(pytester, run_pytest):
    pytester.makepyfile(
        test_threads=textwrap.dedent(
            """
            import threading
            import time

            STOP = threading.Event()

            def produce():
                made = []
                count = 0
                while not STOP.is_set():
                    item = [count]  # tracked by the GC; a local, never only on the stack
                    made.append(item)
                    count += 1
                    time.sleep(0.002)

            def test_a_starts_producer():
                threading.Thread(target=produce, name="producer", daemon=True).start()

            def test_b_innocent():
                time.sleep(0.05)

            def test_c_stops_it():
                STOP.set()
                time.sleep(0.02)
            """
        )
    )
    run_pytest(*RUN)
    found = records(pytester.path)
    assert found["test_a_starts_producer"]["verdict"] == "leak"
    innocent = found["test_b_innocent"]
    assert innocent["verdict"] == "ok", innocent["message"]
    assert innocent["delta"]["retained_objects"] == 0
    charges = charges_of(innocent, "thread")
    assert charges, innocent
    for charge in charges:
        assert charge["created_by"] == "test_threads.py::test_a_starts_producer"
        assert charge["surfaced_in"] == "test_threads.py::test_b_innocent"
        assert "thread 'producer' (target produce" in charge["summary"]
        assert charge["event"].startswith("held ")


def test_thread_older_than_the_window_is_not_charged_when_nobody_left_it(pytester, run_pytest):
    """A worker the session started before any test is nobody's leak: B is clean, and
    nothing is charged."""
    pytester.makeconftest(
        textwrap.dedent(
            """
            import threading
            import time

            STOP = threading.Event()

            def produce():
                made = []
                while not STOP.is_set():
                    item = [len(made)]
                    made.append(item)
                    time.sleep(0.002)

            def pytest_configure(config):
                threading.Thread(target=produce, daemon=True).start()

            def pytest_unconfigure(config):
                STOP.set()
            """
        )
    )
    pytester.makepyfile(
        test_pool="import time\n\ndef test_first():\n    pass\n\n"
        "def test_b_innocent():\n    time.sleep(0.05)\n"
    )
    run_pytest(*RUN)
    innocent = records(pytester.path)["test_b_innocent"]
    assert innocent["verdict"] == "ok", innocent["message"]
    assert innocent["blame"] == []


@pytest.mark.parametrize(
    ("opening", "kind"),
    [
        ('open(tmp_path / "data.txt", "w")', "file"),
        ("socket.socket(socket.AF_INET, socket.SOCK_STREAM)", "socket"),
    ],
    ids=["file", "socket"],
)
def test_descriptor_opened_by_a_and_warned_about_in_b_is_charged_to_a(
    pytester, run_pytest, opening, kind
):
    pytester.makepyfile(
        test_files=textwrap.dedent(
            f"""
            import socket

            HELD = []

            def test_a_opens(tmp_path):
                HELD.append({opening})

            def test_b_innocent():
                HELD.clear()  # the garbage collector closes what A left open
            """
        )
    )
    result = run_pytest(*RUN, "-W", "always::ResourceWarning")
    found = records(pytester.path)
    assert found["test_a_opens"]["verdict"] == "leak"
    # The ResourceWarning is reported under B, by pytest: the symptom this charge explains.
    assert "test_files.py::test_b_innocent" in result.stdout.str().split("warnings summary")[-1]
    innocent = found["test_b_innocent"]
    assert innocent["verdict"] != "leak", innocent["message"]
    charges = charges_of(innocent, kind)
    assert charges, innocent
    for charge in charges:
        assert charge["created_by"] == "test_files.py::test_a_opens"
        assert charge["surfaced_in"] == "test_files.py::test_b_innocent"
        assert charge["event"].startswith("closed, by the garbage collector")
    summary = result.stdout.str().split("memguard ===")[-1]
    assert f"test_files.py::test_a_opens: {kind}: " in summary


# --- the ledger itself ---------------------------------------------------------------


class Resource:
    def __init__(self) -> None:
        self.released = False


def finding(summary: str) -> Finding:
    return Finding(kind="task", summary=summary, count=1)


def test_ledger_charges_what_surfaces_to_the_test_that_left_it() -> None:
    ledger = Ledger()
    kept, dropped = Resource(), Resource()
    ledger.enter("test_a")
    ledger.remember(finding("kept"), watch_object(kept, lambda r: r.released, "destroyed"))
    ledger.remember(finding("dropped"), watch_object(dropped, lambda r: r.released, "gone"))
    ledger.leave()
    assert ledger.take_charges() == []
    ledger.enter("test_b")
    del dropped
    ledger.leave()
    [charge] = ledger.take_charges()
    assert charge == {
        "kind": "task",
        "summary": "dropped",
        "created_by": "test_a",
        "created_at": [],
        "surfaced_in": "test_b",
        "event": "gone",
        "count": 1,
    }
    kept.released = True  # let go quietly: forgotten, never charged
    ledger.enter("test_c")
    del kept
    ledger.leave()
    assert ledger.take_charges() == []
    assert ledger.held() == []


def test_ledger_charges_between_tests_and_not_to_the_same_test() -> None:
    ledger = Ledger()
    first, second = Resource(), Resource()
    ledger.enter("test_a")
    ledger.remember(finding("first"), watch_object(first, lambda r: False, "destroyed"))
    ledger.remember(finding("second"), watch_object(second, lambda r: False, "destroyed"))
    del first  # a repetition of A replacing its own resource is not a charge
    ledger.leave()
    del second
    ledger.enter("test_b")
    ledger.leave()
    [charge] = ledger.take_charges()
    assert (charge["summary"], charge["surfaced_in"]) == ("second", "")


def test_ledger_remembers_nothing_outside_a_window(tmp_path: Path) -> None:
    ledger = Ledger()
    with open(tmp_path / "f", "w") as stream:
        ledger.remember(finding("f"), watch_descriptor(stream.fileno(), "closed"))
    ledger.enter("test_b")
    ledger.leave()
    assert ledger.take_charges() == []


def test_descriptor_probe_sees_a_close(tmp_path: Path) -> None:
    stream = open(tmp_path / "f", "w")  # noqa: SIM115 - closed below, on purpose
    probe = watch_descriptor(stream.fileno(), "closed")
    assert probe() is None
    stream.close()
    assert probe() == "closed"
