"""Resources named end to end: each shape runs in a child pytest under ``--memguard``.

An atexit hook by its callable and where it was registered; a timer on a module-level
loop that never runs; a signal handler left changed even when re-installing it is
idempotent, and a handler chain named through the library object keeping it; a task
destroyed while pending, charged to the test that created it.
"""

from __future__ import annotations

import json
import re
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

RUN = ("--memguard", "-p", "no:randomly", "--memguard-report=json:mem.json")

posix_only = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")


def records(path: Path) -> dict[str, dict[str, Any]]:
    """The JSON report's records, by test name."""
    document = json.loads((path / "mem.json").read_text())
    return {test["nodeid"].split("::")[-1]: test for test in document["tests"]}


def kinds(record: dict[str, Any]) -> list[str]:
    return [finding["kind"] for finding in record["findings"]]


def finding_of(record: dict[str, Any], kind: str) -> dict[str, Any]:
    found = [finding for finding in record["findings"] if finding["kind"] == kind]
    assert found, (record["verdict"], record["message"], record["findings"])
    return dict(found[0])


def test_atexit_hook_is_named_with_where_it_was_registered(pytester, run_pytest):
    pytester.makepyfile(
        metrics=textwrap.dedent(
            """
            import atexit

            def flush():
                pass

            def start():
                atexit.register(flush)  # on every start
            """
        ),
        test_metrics="import metrics\n\ndef test_start():\n    metrics.start()\n",
    )
    run_pytest(*RUN)
    record = records(pytester.path)["test_start"]
    assert record["verdict"] == "leak"
    finding = finding_of(record, "atexit")
    assert finding["summary"].startswith("atexit callback metrics.flush registered during")
    assert "metrics.py:7" in finding["summary"]
    assert finding["allocated_at"][-1]["line"] == "atexit.register(flush)  # on every start"


@posix_only
def test_idempotent_signal_handler_and_a_handler_chain_are_signal_findings(pytester, run_pytest):
    pytester.makepyfile(
        reloader=textwrap.dedent(
            """
            import signal

            def on_hup(signum, frame):
                pass

            class Chain:
                def __init__(self):
                    self.listeners = []
                    self.previous = None

                def dispatch(self, signum, frame):
                    for listener in self.listeners:
                        listener()

                def add(self, listener):
                    self.listeners.append(listener)
                    self.previous = signal.signal(signal.SIGUSR2, self.dispatch)

            CHAIN = Chain()

            def flush():
                pass
            """
        ),
        test_reloader=textwrap.dedent(
            """
            import signal
            import reloader

            def test_installs_the_same_handler():
                signal.signal(signal.SIGUSR1, reloader.on_hup)

            def test_chain():
                reloader.CHAIN.add(reloader.flush)

            def test_restores():
                previous = signal.signal(signal.SIGUSR1, reloader.on_hup)
                signal.signal(signal.SIGUSR1, previous)
            """
        ),
    )
    run_pytest(*RUN)
    found = records(pytester.path)
    same = found["test_installs_the_same_handler"]
    assert same["verdict"] == "leak", same["message"]
    assert finding_of(same, "signal-handler")["summary"] == (
        "signal SIGUSR1 handler changed to on_hup (was SIG_DFL) and not restored"
    )
    chain = finding_of(found["test_chain"], "signal-handler")
    # every run (screen, repetitions, the traced one) added one: the chain grows
    assert re.search(
        r"Chain object keeps \.listeners = (\d+) callable\(s\): flush x \1", chain["summary"]
    )
    assert ".previous = Chain.dispatch" in chain["summary"]
    assert chain["retainer_chain"][1]["object"] == "reloader.Chain"
    assert found["test_restores"]["verdict"] == "ok"


def test_timer_on_an_idle_module_loop_and_a_task_destroyed_pending(pytester, run_pytest):
    pytester.makepyfile(
        scheduler=textwrap.dedent(
            """
            import asyncio

            LOOP = asyncio.new_event_loop()  # made at import, never run

            def remind(text):
                pass

            def schedule(text, delay=3600):
                return LOOP.call_later(delay, remind, text)
            """
        ),
        test_scheduler=textwrap.dedent(
            """
            import asyncio
            import scheduler

            async def poll():
                await asyncio.sleep(3600)

            def test_schedules():
                scheduler.schedule("call back")

            def test_runs_the_loop():
                scheduler.schedule("call back", delay=0)
                scheduler.LOOP.run_until_complete(asyncio.sleep(0.01))

            def test_closes_loop_with_a_pending_task():
                loop = asyncio.new_event_loop()
                loop.create_task(poll())
                loop.run_until_complete(asyncio.sleep(0))
                loop.close()

            def test_after():
                pass
            """
        ),
    )
    result = run_pytest(*RUN, "-W", "ignore:coroutine:RuntimeWarning")
    found = records(pytester.path)
    timer = finding_of(found["test_schedules"], "timer")
    assert timer["summary"].startswith("asyncio timer scheduler.remind (due in 3.6e+03 s)")
    assert "event loop scheduler.LOOP, which is not running" in timer["summary"]
    ran = found["test_runs_the_loop"]
    assert ran["verdict"] in ("ok", "warmup"), ran["message"]
    closed = found["test_closes_loop_with_a_pending_task"]
    assert closed["verdict"] == "leak", closed["message"]
    task = finding_of(closed, "task")
    assert "(coroutine poll) destroyed while still pending" in task["summary"]
    assert found["test_after"]["verdict"] == "ok"
    assert found["test_after"]["blame"] == []
    assert "Task was destroyed but it is pending!" in result.stdout.str()
