"""Resource sentinels: each leak shape is found and named, its cleaned-up twin is not.

Every test undoes what it leaked in its own teardown (the ``cleanup`` fixture), since
these tests share the interpreter with the rest of the suite. The allow-list of
``memguard_allow`` is checked through the plugin in a child pytest (``run_pytest``).
"""

from __future__ import annotations

import asyncio
import atexit
import functools
import gc
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
import tracemalloc
import weakref
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from unittest import mock

import pytest

from pytest_memguard.findings import Finding
from pytest_memguard.sentinels import SENTINEL_NAMES, parse_sentinel_switches, procs
from pytest_memguard.sentinels.base import (
    Allow,
    PytestMemguardWarning,
    Sentinel,
    describe,
    parse_allow,
)
from pytest_memguard.sentinels.blame import Ledger
from pytest_memguard.sentinels.fds import (
    FdBackend,
    FdSentinel,
    ProcFds,
    PsutilFds,
    default_backend,
)
from pytest_memguard.sentinels.hooks import AtexitSentinel, ListenerSentinel, SignalSentinel
from pytest_memguard.sentinels.logs import LoggingSentinel
from pytest_memguard.sentinels.procs import SubprocessSentinel
from pytest_memguard.sentinels.suite import build_sentinels, check_all, snapshot_all
from pytest_memguard.sentinels.tasks import TaskSentinel
from pytest_memguard.sentinels.threads import ThreadSentinel

RunPytest = Callable[..., pytest.RunResult]  # the run_pytest fixture of conftest.py

linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc is Linux's")
posix_only = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals and descriptors")


@pytest.fixture
def cleanup() -> Iterator[ExitStack]:
    """Undo what a test leaked, last leaked first, even when an assertion failed."""
    with ExitStack() as stack:
        yield stack


def window(sentinel: Sentinel, leak: Callable[[], object]) -> list[Finding]:
    """Snapshot, run ``leak`` (the test), compare: what the plugin does around a test."""
    states = snapshot_all([sentinel])
    leak()
    return check_all([sentinel], states)


def only(findings: list[Finding], kind: str) -> Finding:
    assert [f.kind for f in findings] == [kind], [f.summary for f in findings]
    return findings[0]


# --- threads and timers -------------------------------------------------------------


class Poller:
    def __init__(self) -> None:
        self.stop = threading.Event()

    def run(self) -> None:
        self.stop.wait(30)


def start_poller(cleanup: ExitStack, name: str = "poller") -> threading.Thread:
    poller = Poller()
    thread = threading.Thread(target=poller.run, name=name, daemon=True)
    thread.start()
    cleanup.callback(thread.join)
    cleanup.callback(poller.stop.set)
    return thread


def test_thread_left_running_is_named(cleanup: ExitStack) -> None:
    finding = only(window(ThreadSentinel(), lambda: start_poller(cleanup)), "thread")
    assert finding.summary == (
        "thread 'poller' (target Poller.run, daemon) still running after teardown"
    )
    assert finding.count == 1
    assert "join" in finding.advice
    assert finding.extra["target"] == f"{__name__}.Poller.run"
    assert "in wait" in finding.extra["running_at"]


def test_thread_subclass_names_its_run_method(cleanup: ExitStack) -> None:
    stop = threading.Event()

    class Worker(threading.Thread):
        def run(self) -> None:
            stop.wait(30)

    def leak() -> None:
        worker = Worker(name="worker")
        worker.start()
        cleanup.callback(worker.join)
        cleanup.callback(stop.set)

    finding = only(window(ThreadSentinel(), leak), "thread")
    assert "thread 'worker' (target " in finding.summary
    assert "Worker.run, non-daemon)" in finding.summary


def test_thread_joined_in_teardown_is_clean() -> None:
    def joined() -> None:
        thread = threading.Thread(target=time.sleep, args=(0.01,))
        thread.start()
        thread.join()

    assert window(ThreadSentinel(), joined) == []


def test_thread_ending_within_the_grace_period_is_clean() -> None:
    ending = threading.Thread(target=time.sleep, args=(0.05,), name="ending")
    start = time.monotonic()
    assert window(ThreadSentinel(), ending.start) == []
    assert time.monotonic() - start < 0.45
    ending.join()


def test_threads_share_one_grace_period(cleanup: ExitStack) -> None:
    def leak() -> None:
        for i in range(3):
            start_poller(cleanup, name=f"poller-{i}")

    start = time.monotonic()
    findings = window(ThreadSentinel(), leak)
    assert sorted(f.extra["name"] for f in findings) == ["poller-0", "poller-1", "poller-2"]
    assert time.monotonic() - start < 1.0


@pytest.mark.parametrize(
    "allow",
    [Allow(thread_names=("poll*",)), Allow(modules=(__name__,)), Allow(modules=("*.Poller.run",))],
    ids=["thread-name", "module", "qualified-name"],
)
def test_allowed_threads_are_not_reported(cleanup: ExitStack, allow: Allow) -> None:
    assert window(ThreadSentinel(allow), lambda: start_poller(cleanup)) == []


@pytest.mark.skipif(
    sys.version_info[:2] == (3, 11),
    reason="3.11's tracemalloc.get_object_traceback misses instances of Python classes",
)
def test_thread_creation_site_comes_from_tracemalloc(cleanup: ExitStack) -> None:
    if not tracemalloc.is_tracing():
        tracemalloc.start(5)
        cleanup.callback(tracemalloc.stop)
    finding = only(window(ThreadSentinel(), lambda: start_poller(cleanup)), "thread")
    assert any(
        frame.filename == __file__ and "threading.Thread(" in frame.line
        for frame in finding.allocated_at
    ), finding.allocated_at


def test_timer_left_pending_names_interval_and_callback(cleanup: ExitStack) -> None:
    def expire_sessions() -> None:
        pass

    def leak() -> None:
        timer = threading.Timer(30, expire_sessions)
        timer.start()
        cleanup.callback(timer.join)
        cleanup.callback(timer.cancel)

    start = time.monotonic()
    finding = only(window(ThreadSentinel(), leak), "timer")
    assert time.monotonic() - start < 0.3, "a long pending timer needs no grace period"
    assert "threading.Timer" in finding.summary
    assert "interval 30 s" in finding.summary
    assert "expire_sessions" in finding.summary
    assert "cancel" in finding.advice


def test_cancelled_timer_is_clean() -> None:
    def cancelled() -> None:
        timer = threading.Timer(30, print)
        timer.start()
        timer.cancel()

    assert window(ThreadSentinel(), cancelled) == []


@posix_only
def test_armed_interval_timer_is_reported(cleanup: ExitStack) -> None:
    def on_alarm(signum: int, frame: object) -> None:
        pass

    previous = signal.signal(signal.SIGALRM, on_alarm)
    cleanup.callback(signal.signal, signal.SIGALRM, previous)
    cleanup.callback(signal.setitimer, signal.ITIMER_REAL, 0)

    finding = only(
        window(ThreadSentinel(), lambda: signal.setitimer(signal.ITIMER_REAL, 60)), "timer"
    )
    assert "setitimer(ITIMER_REAL)" in finding.summary
    assert "on_alarm" in finding.summary
    assert "setitimer(signal.ITIMER_REAL, 0)" in finding.advice

    def disarmed() -> None:
        signal.setitimer(signal.ITIMER_REAL, 60)
        signal.setitimer(signal.ITIMER_REAL, 0)

    assert window(ThreadSentinel(), disarmed) == []


def test_timer_and_thread_switches_are_separate(cleanup: ExitStack) -> None:
    def leak() -> None:
        start_poller(cleanup)
        timer = threading.Timer(30, print)
        timer.start()
        cleanup.callback(timer.join)
        cleanup.callback(timer.cancel)

    assert [f.kind for f in window(ThreadSentinel(threads=False), leak)] == ["timer"]
    assert [f.kind for f in window(ThreadSentinel(timers=False), leak)] == ["thread"]


# --- asyncio --------------------------------------------------------------------------


async def poll_forever() -> None:
    await asyncio.sleep(30)


def close_loop(loop: asyncio.AbstractEventLoop) -> None:
    pending = asyncio.all_tasks(loop)
    for task in pending:
        task.cancel()
    if pending:
        loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
    loop.close()


def test_pending_task_and_unclosed_loop_are_reported(cleanup: ExitStack) -> None:
    tasks: list[asyncio.Task[None]] = []

    def leak() -> None:
        loop = asyncio.new_event_loop()
        cleanup.callback(asyncio.set_event_loop, None)
        cleanup.callback(close_loop, loop)
        asyncio.set_event_loop(loop)
        tasks.append(loop.create_task(poll_forever(), name="poller"))
        loop.run_until_complete(asyncio.sleep(0))
        loop.call_later(10, print)

    findings = window(TaskSentinel(), leak)
    summaries = [f.summary for f in findings]
    assert [f.kind for f in findings] == ["task"] * 3, summaries
    assert summaries[0].startswith("asyncio task 'poller' (coroutine poll_forever) still pending")
    assert "stopped event loop that was never closed" in summaries[0]
    assert "set with asyncio.set_event_loop() during the test and never closed" in summaries[1]
    assert "asyncio callback print still scheduled" in summaries[2]


def test_task_pending_on_a_closed_loop_is_reported(cleanup: ExitStack) -> None:
    def leak() -> None:
        loop = asyncio.new_event_loop()
        task = loop.create_task(poll_forever(), name="orphan")
        loop.run_until_complete(asyncio.sleep(0))
        loop.close()
        # the task can never run again: finish its coroutine by hand, quietly
        cleanup.callback(task.get_coro().close)  # type: ignore[union-attr,unused-ignore]
        cleanup.callback(setattr, task, "_log_destroy_pending", False)

    finding = only(window(TaskSentinel(), leak), "task")
    assert finding.summary == (
        "asyncio task 'orphan' (coroutine poll_forever) still pending after teardown, "
        "on a closed event loop, so it can never finish"
    )


def test_asyncio_run_is_clean() -> None:
    async def main() -> None:
        task = asyncio.ensure_future(poll_forever())
        await asyncio.sleep(0)
        task.cancel()

    assert window(TaskSentinel(), lambda: asyncio.run(main())) == []


def test_allowed_coroutine_module_is_not_reported(cleanup: ExitStack) -> None:
    loop = asyncio.new_event_loop()
    cleanup.callback(close_loop, loop)
    tasks: list[asyncio.Task[None]] = []

    def leak() -> None:
        tasks.append(loop.create_task(poll_forever()))
        loop.run_until_complete(asyncio.sleep(0))

    assert window(TaskSentinel(Allow(modules=(__name__,))), leak) == []


# --- listeners ------------------------------------------------------------------------


def on_collect(phase: str, info: dict[str, int]) -> None:
    pass


def test_gc_callback_left_registered(cleanup: ExitStack) -> None:
    def leak() -> None:
        gc.callbacks.append(on_collect)
        cleanup.callback(gc.callbacks.remove, on_collect)

    finding = only(window(ListenerSentinel(), leak), "listener")
    assert finding.summary == "gc callback on_collect added to gc.callbacks and not removed"
    assert "gc.callbacks.remove" in finding.advice

    def removed() -> None:
        gc.callbacks.append(on_collect)
        gc.callbacks.remove(on_collect)

    assert window(ListenerSentinel(), removed) == []


def test_replaced_excepthook_is_reported(cleanup: ExitStack) -> None:
    def log_thread_errors(args: object) -> None:
        pass

    previous = threading.excepthook
    cleanup.callback(setattr, threading, "excepthook", previous)

    def leak() -> None:
        threading.excepthook = log_thread_errors

    finding = only(window(ListenerSentinel(), leak), "listener")
    threading.excepthook = previous
    assert finding.summary.startswith("threading.excepthook ")
    assert "log_thread_errors left installed after teardown (was " in finding.summary

    def restored() -> None:
        threading.excepthook = log_thread_errors
        threading.excepthook = previous

    assert window(ListenerSentinel(), restored) == []


def test_trace_function_left_installed(cleanup: ExitStack) -> None:
    def tracer(frame: object, event: str, arg: object) -> None:
        return None

    previous = sys.gettrace()
    cleanup.callback(sys.settrace, previous)

    finding = only(window(ListenerSentinel(), lambda: sys.settrace(tracer)), "listener")
    sys.settrace(previous)
    assert finding.summary.startswith("sys.settrace function ")
    assert "tracer left installed after teardown" in finding.summary

    def restored() -> None:
        sys.settrace(tracer)
        sys.settrace(previous)

    assert window(ListenerSentinel(), restored) == []


@pytest.mark.skipif(sys.version_info < (3, 12), reason="sys.monitoring is 3.12+")
def test_monitoring_tool_left_registered(cleanup: ExitStack) -> None:
    monitoring = sys.monitoring  # type: ignore[attr-defined,unused-ignore]
    free = [i for i in range(6) if monitoring.get_tool(i) is None]
    tool = free[-1]

    def leak() -> None:
        monitoring.use_tool_id(tool, "leaky-profiler")
        cleanup.callback(monitoring.free_tool_id, tool)

    finding = only(window(ListenerSentinel(), leak), "listener")
    assert f"tool id {tool} ('leaky-profiler')" in finding.summary


def test_logger_filter_is_a_listener(cleanup: ExitStack) -> None:
    logger = logging.getLogger("memguard.tests.filters")

    def leak() -> None:
        logger.addFilter(drop_health_checks)

    cleanup.callback(logger.removeFilter, drop_health_checks)
    finding = only(window(LoggingSentinel(), leak), "listener")
    assert finding.summary == (
        "logging filter drop_health_checks added to logger 'memguard.tests.filters' and not removed"
    )
    logger.removeFilter(drop_health_checks)
    assert window(LoggingSentinel(filters=False), leak) == []


# --- logging handlers -----------------------------------------------------------------


def test_logging_handler_left_on_a_logger(cleanup: ExitStack) -> None:
    logger = logging.getLogger("memguard.tests.app")

    def leak() -> None:
        handler = logging.StreamHandler()
        handler.setLevel(logging.WARNING)
        logger.addHandler(handler)
        cleanup.callback(logger.removeHandler, handler)

    finding = only(window(LoggingSentinel(), leak), "logging-handler")
    assert finding.summary == (
        "logging handler StreamHandler (level WARNING) added to logger "
        "'memguard.tests.app' and not removed"
    )
    assert "removeHandler" in finding.advice


def test_file_handler_on_root_names_its_file(cleanup: ExitStack, tmp_path: Path) -> None:
    def leak() -> None:
        handler = logging.FileHandler(tmp_path / "app.log", delay=True)
        logging.root.addHandler(handler)
        cleanup.callback(handler.close)
        cleanup.callback(logging.root.removeHandler, handler)

    finding = only(window(LoggingSentinel(), leak), "logging-handler")
    assert f"FileHandler (level NOTSET, writing to {tmp_path / 'app.log'})" in finding.summary
    assert "logger 'root'" in finding.summary


def test_handler_appended_to_the_list_directly_is_still_found(cleanup: ExitStack) -> None:
    logger = logging.getLogger("app.direct")
    cleanup.callback(logger.handlers.clear)
    sentinel = LoggingSentinel()

    def churn() -> None:  # what pytest does around every phase: the checksum is unchanged
        handler = logging.NullHandler()
        logger.addHandler(handler)
        logger.removeHandler(handler)

    assert window(sentinel, churn) == []
    finding = only(
        window(sentinel, lambda: logger.handlers.append(logging.NullHandler())),
        "logging-handler",
    )
    assert "'app.direct'" in finding.summary


def test_removed_handler_and_new_bare_logger_are_clean() -> None:
    def clean() -> None:
        logger = logging.getLogger("memguard.tests.created-here")
        handler = logging.NullHandler()
        logger.addHandler(handler)
        logger.removeHandler(handler)

    assert window(LoggingSentinel(), clean) == []


def test_pytest_capture_handlers_and_allowed_loggers_are_ignored(cleanup: ExitStack) -> None:
    from _pytest.logging import LogCaptureHandler

    def leak() -> None:
        capture = LogCaptureHandler()
        logging.root.addHandler(capture)
        cleanup.callback(logging.root.removeHandler, capture)
        noisy = logging.getLogger("vendor.noisy")
        handler = logging.NullHandler()
        noisy.addHandler(handler)
        cleanup.callback(noisy.removeHandler, handler)

    assert window(LoggingSentinel(Allow(loggers=("vendor.*",))), leak) == []


# --- signals and atexit ---------------------------------------------------------------


def drop_health_checks(record: logging.LogRecord) -> bool:
    return "/health" not in record.getMessage()


def reload_config(signum: int, frame: object) -> None:
    pass


@posix_only
def test_signal_handler_left_installed(cleanup: ExitStack) -> None:
    previous = signal.getsignal(signal.SIGUSR1)
    cleanup.callback(signal.signal, signal.SIGUSR1, previous)

    finding = only(
        window(SignalSentinel(), lambda: signal.signal(signal.SIGUSR1, reload_config)),
        "signal-handler",
    )
    assert finding.summary == (
        "signal SIGUSR1 handler changed to reload_config (was SIG_DFL) and not restored"
    )
    assert "signal.signal(signal.SIGUSR1, previous)" in finding.advice
    signal.signal(signal.SIGUSR1, previous)

    def restored() -> None:
        signal.signal(signal.SIGUSR1, reload_config)
        signal.signal(signal.SIGUSR1, previous)

    assert window(SignalSentinel(), restored) == []


class SignalChain:
    """A library's handler chain: the previous handler saved, listeners in a list."""

    def __init__(self) -> None:
        self.listeners: list[Callable[[], None]] = []
        self.previous: object = None

    def dispatch(self, signum: int, frame: object) -> None:
        for listener in self.listeners:
            listener()

    def install(self, listener: Callable[[], None]) -> None:
        self.listeners.append(listener)
        self.previous = signal.signal(signal.SIGUSR1, self.dispatch)


def flush_on_signal() -> None:
    pass


@posix_only
def test_reinstalling_the_same_handler_counts_on_every_run_of_a_test(
    cleanup: ExitStack,
) -> None:
    previous = signal.getsignal(signal.SIGUSR1)
    cleanup.callback(signal.signal, signal.SIGUSR1, previous)
    ledger = Ledger()
    sentinel = SignalSentinel(ledger=ledger)

    def install() -> None:
        signal.signal(signal.SIGUSR1, reload_config)

    ledger.enter("test_a")
    runs = [window(sentinel, install) for _ in range(3)]  # screen and two repetitions
    ledger.leave()
    assert [[f.kind for f in run] for run in runs] == [["signal-handler"]] * 3
    ledger.enter("test_b")  # the next test starts from the state test_a left
    assert window(sentinel, install) == []
    ledger.leave()


@posix_only
def test_handler_chain_is_named_through_the_object_keeping_it(cleanup: ExitStack) -> None:
    previous = signal.getsignal(signal.SIGUSR1)
    cleanup.callback(signal.signal, signal.SIGUSR1, previous)
    chain = SignalChain()

    finding = only(
        window(SignalSentinel(), lambda: chain.install(flush_on_signal)), "signal-handler"
    )
    assert finding.summary == (
        "signal SIGUSR1 handler changed to SignalChain.dispatch (was SIG_DFL) and not "
        "restored; the handler's SignalChain object keeps .listeners = 1 callable(s): "
        "flush_on_signal, .previous = SIG_DFL"
    )
    assert [edge.object for edge in finding.retainer_chain] == [
        "signal handler table",
        f"{__name__}.SignalChain",
    ]


def test_atexit_registration_is_named_with_where_it_was_made(cleanup: ExitStack) -> None:
    def flush_metrics() -> None:
        pass

    sentinel = AtexitSentinel()

    def leak() -> None:
        atexit.register(flush_metrics)  # the line named below
        cleanup.callback(atexit.unregister, flush_metrics)

    finding = only(window(sentinel, leak), "atexit")
    assert finding.summary == (
        f"atexit callback {__name__}.test_atexit_registration_is_named_with_where_"
        "it_was_made.<locals>.flush_metrics registered during the test, at "
        f"{__file__}:{finding.allocated_at[-1].lineno}"
    )
    assert finding.allocated_at[-1].line == "atexit.register(flush_metrics)  # the line named below"


def test_atexit_registrations_are_counted(cleanup: ExitStack) -> None:
    def flush_metrics() -> None:
        pass

    def leak() -> None:
        atexit.register(flush_metrics)
        atexit.register(flush_metrics)
        cleanup.callback(atexit.unregister, flush_metrics)

    finding = only(window(AtexitSentinel(), leak), "atexit")
    assert finding.summary.startswith(
        f"atexit callback {__name__}.test_atexit_registrations_are_counted.<locals>."
        "flush_metrics registered 2 times during the test"
    )
    assert finding.count == 2
    assert window(AtexitSentinel(), lambda: None) == []


# --- files and sockets ----------------------------------------------------------------


@pytest.fixture(params=["default", "psutil"])
def fd_backend(request: pytest.FixtureRequest) -> FdBackend:
    if request.param == "psutil":
        return PsutilFds()
    return default_backend()


@posix_only
def test_file_left_open_names_its_path(
    cleanup: ExitStack, tmp_path: Path, fd_backend: FdBackend
) -> None:
    path = tmp_path / "report.csv"

    def leak() -> None:
        cleanup.enter_context(open(path, "w"))  # noqa: SIM115 (the leak under test)

    finding = only(window(FdSentinel(fd_backend), leak), "file")
    assert finding.summary.startswith(f"file {path} (fd ")
    assert finding.summary.endswith(") still open after teardown")
    assert "with-block" in finding.advice

    def closed() -> None:
        with open(path) as handle:
            handle.read()

    assert window(FdSentinel(fd_backend), closed) == []


@posix_only
def test_socket_left_open_names_its_addresses(cleanup: ExitStack, fd_backend: FdBackend) -> None:
    ports: list[int] = []

    def leak() -> None:
        server = cleanup.enter_context(socket.socket())
        server.bind(("127.0.0.1", 0))
        server.listen()
        client = cleanup.enter_context(socket.create_connection(server.getsockname()))
        cleanup.enter_context(server.accept()[0])
        ports[:] = [server.getsockname()[1], client.getsockname()[1]]

    findings = window(FdSentinel(fd_backend), leak)
    port, client_port = ports
    summaries = sorted(f.summary.split(" (fd")[0] for f in findings)
    assert {f.kind for f in findings} == {"socket"}
    assert summaries == sorted(
        [
            f"socket AF_INET SOCK_STREAM 127.0.0.1:{port}",
            f"socket AF_INET SOCK_STREAM 127.0.0.1:{client_port} -> 127.0.0.1:{port}",
            f"socket AF_INET SOCK_STREAM 127.0.0.1:{port} -> 127.0.0.1:{client_port}",
        ]
    )
    assert window(FdSentinel(fd_backend, sockets=False), leak) == []


@linux_only
def test_pipe_is_a_file_named_as_a_pipe(cleanup: ExitStack) -> None:
    def leak() -> None:
        read_end, write_end = os.pipe()
        cleanup.callback(os.close, read_end)
        cleanup.callback(os.close, write_end)

    findings = window(FdSentinel(ProcFds()), leak)
    assert [f.kind for f in findings] == ["file", "file"]
    assert all(f.summary.startswith("pipe pipe:[") for f in findings)


@linux_only
def test_descriptors_psutil_cannot_name_are_counted(cleanup: ExitStack) -> None:
    def leak() -> None:
        read_end, write_end = os.pipe()
        cleanup.callback(os.close, read_end)
        cleanup.callback(os.close, write_end)

    finding = only(window(FdSentinel(PsutilFds()), leak), "file")
    assert finding.summary.startswith("2 more file descriptor(s) opened during the test")
    assert finding.count == 2


@linux_only
def test_reused_descriptor_numbers_are_still_found(cleanup: ExitStack, tmp_path: Path) -> None:
    def leak(path: Path) -> None:
        cleanup.enter_context(open(path))  # noqa: SIM115 (the leak under test)

    sentinel = FdSentinel(ProcFds())
    for name in ("first", "second", "third"):
        path = tmp_path / name
        path.touch()
        handle = open(path)  # noqa: SIM115 (closed by hand below)
        assert window(sentinel, lambda: None) == []
        handle.close()
        # the leak gets the number just freed, which the last listing had as open
        findings = window(sentinel, functools.partial(leak, path))
        assert [f.summary.split(" (fd")[0] for f in findings] == [f"file {path}"]


@linux_only
def test_proc_listing_leaves_out_its_own_descriptor() -> None:
    backend = ProcFds()
    listing = backend.listing()
    # The count may be higher: a thread blocked in accept() (pytest-rerunfailures' status
    # server) has reserved a descriptor number that no file fills yet.
    assert len(listing) <= backend.count()
    for fd in listing:
        os.fstat(fd)  # listdir's own descriptor, closed by now, would fail


@linux_only
def test_forked_child_counts_its_own_descriptors() -> None:
    out = run_script(
        """
        import os
        from pytest_memguard.sentinels.fds import ProcFds
        backend = ProcFds()
        extra = [os.open(os.devnull, os.O_RDONLY) for _ in range(5)]
        pid = os.fork()
        if pid == 0:
            for fd in extra:
                os.close(fd)
            os._exit(0 if backend.count() == len(backend.listing()) else 1)
        print(os.waitpid(pid, 0)[1])
        """
    )
    assert out.strip() == "0"


# --- child processes ------------------------------------------------------------------


def spawn_sleeper(cleanup: ExitStack) -> int:
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    cleanup.callback(child.wait)
    cleanup.callback(child.kill)
    return child.pid


def test_child_process_left_running_is_named(cleanup: ExitStack) -> None:
    pids: list[int] = []
    finding = only(
        window(SubprocessSentinel(), lambda: pids.append(spawn_sleeper(cleanup))), "subprocess"
    )
    pid = pids[0]
    assert finding.summary == (
        f"child process {pid} ({sys.executable} -c import time; time.sleep(30)) "
        "still running after teardown"
    )
    assert finding.extra["pid"] == pid
    assert "wait()" in finding.advice


def test_waited_and_quickly_ending_children_are_clean() -> None:
    sentinel = SubprocessSentinel()
    assert window(sentinel, lambda: subprocess.run([sys.executable, "-c", "pass"])) == []
    quick: list[subprocess.Popen[bytes]] = []
    script = [sys.executable, "-c", "import time; time.sleep(0.05)"]
    assert window(sentinel, lambda: quick.append(subprocess.Popen(script))) == []
    quick[0].wait()


def test_a_new_child_is_found_beside_one_left_running(cleanup: ExitStack) -> None:
    sentinel = SubprocessSentinel()
    first = only(window(sentinel, lambda: spawn_sleeper(cleanup)), "subprocess")
    assert window(sentinel, lambda: None) == []
    second = only(window(sentinel, lambda: spawn_sleeper(cleanup)), "subprocess")
    assert first.extra["pid"] != second.extra["pid"]


@linux_only
def test_children_are_listed_again_only_once_a_process_id_was_given_out(
    cleanup: ExitStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    sentinel = SubprocessSentinel()
    last_pid = [1000]
    monkeypatch.setattr(sentinel._last_pid, "read", lambda: last_pid[0])
    listings: list[frozenset[int]] = []
    list_children = sentinel._children

    def listed() -> frozenset[int]:
        found = list_children()
        listings.append(found)
        return found

    monkeypatch.setattr(sentinel, "_children", listed)
    pid = spawn_sleeper(cleanup)  # between two checks: the next one lists it
    last_pid[0] += 1
    assert only(window(sentinel, lambda: None), "subprocess").extra["pid"] == pid
    assert window(sentinel, lambda: None) == []
    assert len(listings) == 1  # the same last id: not listed again
    last_pid[0] += 1  # a thread or another process, say
    assert window(sentinel, lambda: None) == []
    assert len(listings) == 2


@linux_only
def test_a_closed_last_pid_descriptor_is_not_read_again() -> None:
    last_pid = procs._LastPid()
    descriptor = last_pid._fd
    assert descriptor is not None and last_pid.read() is not None
    os.close(descriptor)  # as a test closing every descriptor would
    assert last_pid.read() is None
    assert last_pid._fd is None


def test_a_child_is_found_where_the_last_pid_cannot_be_read(
    cleanup: ExitStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    sentinel = SubprocessSentinel()
    monkeypatch.setattr(sentinel._last_pid, "read", lambda: None)
    assert window(sentinel, lambda: None) == []
    pid = spawn_sleeper(cleanup)
    assert only(window(sentinel, lambda: None), "subprocess").extra["pid"] == pid
    assert window(sentinel, lambda: None) == []
    second = spawn_sleeper(cleanup)
    assert only(window(sentinel, lambda: None), "subprocess").extra["pid"] == second


def test_sentinels_share_one_last_pid_descriptor() -> None:
    assert SubprocessSentinel()._last_pid is SubprocessSentinel()._last_pid


# --- the registry: switches, building, checking ---------------------------------------


def test_parse_sentinel_switches() -> None:
    assert parse_sentinel_switches("-socket,-atexit") == {"socket", "atexit"}
    assert parse_sentinel_switches(" -thread , ") == {"thread"}
    assert parse_sentinel_switches("") == frozenset()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("-sockets", "unknown sentinel 'sockets'; valid: thread, timer, subprocess, task"),
        ("socket", "sentinel switch 'socket' has no sign: write -socket to switch it off"),
    ],
)
def test_parse_sentinel_switches_errors(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message) as info:
        parse_sentinel_switches(text)
    if text.startswith("-"):
        assert all(name in str(info.value) for name in SENTINEL_NAMES)


def test_build_sentinels_serves_every_switch_once() -> None:
    names = [s.name for s in build_sentinels()]
    served = [switch for name in names for switch in name.split(",")]
    # listener and timer each have two parts
    assert sorted(served) == sorted([*SENTINEL_NAMES, "listener", "timer"])
    assert names[0] == "thread,timer"


def test_disabled_sentinels_are_not_built() -> None:
    names = [s.name for s in build_sentinels({"thread", "socket", "logging-handler", "task"})]
    assert "thread" not in ",".join(names).split(",")
    assert "timer" in names
    assert "file" in names and "task" not in names
    assert names.count("listener") == 2  # the hooks, and the filters on loggers
    with pytest.raises(ValueError, match=r"unknown sentinel.*nope"):
        build_sentinels({"nope"})


def test_allow_list_reaches_the_built_sentinels(cleanup: ExitStack) -> None:
    sentinels = build_sentinels(allow=Allow(thread_names=("poller",)))
    states = snapshot_all(sentinels)
    start_poller(cleanup)
    assert check_all(sentinels, states) == []


class Broken:
    name = "broken"

    def __init__(self, fail_in: str) -> None:
        self.fail_in = fail_in

    def before(self) -> object:
        if self.fail_in == "before":
            raise OSError("no /proc here")
        return None

    def after(self, before: object) -> list[Finding]:
        raise RuntimeError("boom")


@pytest.mark.parametrize("fail_in", ["before", "after"])
def test_failing_sentinel_warns_and_the_others_still_report(
    cleanup: ExitStack, fail_in: str
) -> None:
    # One before the broken sentinel and one after it: both still report.
    sentinels: list[Sentinel] = [ThreadSentinel(), Broken(fail_in), ThreadSentinel()]
    with pytest.warns(PytestMemguardWarning, match="sentinel 'broken' failed in") as record:
        states = snapshot_all(sentinels)
        start_poller(cleanup)
        findings = check_all(sentinels, states)
    assert len(record) == 1
    assert "no /proc here" in str(record[0].message) or "boom" in str(record[0].message)
    assert [f.kind for f in findings] == ["thread", "thread"]


def test_describe_names_callables_the_way_code_reads_them() -> None:
    poller = Poller()
    coro = poll_forever()
    try:
        assert describe(poller.run).dotted == f"{__name__}.Poller.run"
        assert str(describe(functools.partial(poller.run))) == "partial(Poller.run)"
        assert str(describe(poller)) == "Poller"
        assert describe(coro).dotted == f"{__name__}.poll_forever"
        assert describe(print).dotted == "builtins.print"
        assert describe(mock.MagicMock()).dotted == "unittest.mock.MagicMock"
    finally:
        coro.close()


def test_a_clean_test_is_checked_on_this_process_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    # What a clean test pays does not grow with the machine: no sentinel lists other
    # processes (psutil's children() reads every process's stat) or any directory but
    # this process's own, and each lists at most one per check.
    import psutil

    scanned: list[str] = []

    def no_scan(*_: object, **__: object) -> list[object]:
        scanned.append("psutil")
        return []

    listed: list[str] = []
    real_listdir = os.listdir

    def listdir(path: str = ".") -> list[str]:
        listed.append(str(path))
        return real_listdir(path)

    sentinels = build_sentinels()
    check_all(sentinels, snapshot_all(sentinels))  # their first reads are their set-up
    monkeypatch.setattr(psutil, "process_iter", no_scan)
    monkeypatch.setattr(psutil.Process, "children", no_scan)
    monkeypatch.setattr(os, "listdir", listdir)
    for _ in range(20):
        assert check_all(sentinels, snapshot_all(sentinels)) == []
    assert scanned == []
    assert all(path.startswith("/proc/self/") for path in listed), set(listed)
    assert len(listed) <= 20 * len(sentinels)


# --- helpers --------------------------------------------------------------------------


def run_script(code: str) -> str:
    """Run ``code`` in a child interpreter (for state that cannot be undone)."""
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[1])},
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


# --- the allow-list of memguard_allow -------------------------------------------------


def test_parse_allow_maps_entries_to_the_allow_list() -> None:
    entries = ["thread:poller-*", " module:vendor.* ", "logger:urllib3.*", "", "THREAD:pool"]
    assert parse_allow(entries) == Allow(
        thread_names=("poller-*", "pool"), modules=("vendor.*",), loggers=("urllib3.*",)
    )
    assert parse_allow([]) == Allow()


@pytest.mark.parametrize("entry", ["poller-*", "task:poller", "thread:", "thread: "])
def test_parse_allow_names_a_bad_entry(entry: str) -> None:
    with pytest.raises(ValueError, match="expected thread:NAME-GLOB") as info:
        parse_allow(["thread:ok", entry])
    assert str(info.value).startswith(f"entry {entry!r}: ")


LEAKED_THREADS = """
import itertools
import threading

_numbers = itertools.count()
_stop = threading.Event()


def test_starts_a_poller():
    name = f"poller-{next(_numbers)}"
    threading.Thread(target=_stop.wait, args=(60,), name=name, daemon=True).start()


def test_starts_a_worker():
    name = f"worker-{next(_numbers)}"
    threading.Thread(target=_stop.wait, args=(60,), name=name, daemon=True).start()
"""


def test_allow_list_silences_a_thread_named_by_glob(
    pytester: pytest.Pytester, run_pytest: RunPytest
) -> None:
    """One run, an allow-list naming poller-*: the poller's finding goes, the worker's
    (named by no entry) stays; the memory each leaked thread keeps is still judged on
    its own."""
    pytester.makepyfile(test_threads=LEAKED_THREADS)
    pytester.makeini("[pytest]\nmemguard_allow =\n    logger:vendor.*\n    thread:poller-*")

    run_pytest("--memguard", "--memguard-report=json:mem.json")

    tests = json.loads((pytester.path / "mem.json").read_text())["tests"]
    threads = {
        test["nodeid"].split("::")[-1]: [
            f["summary"] for f in test["findings"] if f["summary"].startswith("thread '")
        ]
        for test in tests
    }
    assert threads.keys() == {"test_starts_a_poller", "test_starts_a_worker"}
    assert threads["test_starts_a_poller"] == []
    leaked = threads["test_starts_a_worker"]
    assert len(leaked) == 1, leaked
    assert leaked[0].startswith("thread 'worker-")
    assert leaked[0].endswith("(target Event.wait, daemon) still running after teardown")


def test_bad_allow_entry_is_a_usage_error(
    pytester: pytest.Pytester, run_configure_only: RunPytest
) -> None:
    """In process: the ini key is read when the plugin is configured, before any test."""
    pytester.makeini("[pytest]\nmemguard_allow =\n    thread:poller-*\n    poller-*\n")
    result = run_configure_only("--memguard")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["*memguard: ini option memguard_allow: entry 'poller-*': expected thread:NAME-GLOB*"]
    )


def test_only_handlers_other_than_pytests_move_the_attachment_checksum(
    cleanup: ExitStack,
) -> None:
    from _pytest.logging import LogCaptureHandler

    from pytest_memguard.sentinels.logs import _ATTACHMENTS

    LoggingSentinel()  # installs the wrappers
    before = _ATTACHMENTS.checksum
    capture = LogCaptureHandler()
    logging.root.addHandler(capture)
    cleanup.callback(logging.root.removeHandler, capture)
    assert _ATTACHMENTS.checksum == before
    handler = logging.NullHandler()
    logging.root.addHandler(handler)
    cleanup.callback(logging.root.removeHandler, handler)
    assert _ATTACHMENTS.checksum != before


def test_code_that_patches_logger_methods_still_sees_the_root_loggers_calls() -> None:
    """The wrappers sit on the classes only: a test that patches ``Logger.addHandler``
    intercepts ``logging.root.addHandler`` as it would without the plugin."""
    LoggingSentinel()  # installs the wrappers
    handler = logging.NullHandler()
    with mock.patch.object(logging.Logger, "addHandler") as patched:
        logging.getLogger().addHandler(handler)
    patched.assert_called_once_with(handler)
    assert handler not in logging.root.handlers


def test_the_attachment_wrappers_keep_no_handler_class_of_the_test_alive() -> None:
    LoggingSentinel()  # installs the wrappers

    class RunHandler(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            return None

    handler = RunHandler()
    logging.root.addHandler(handler)
    logging.root.removeHandler(handler)
    defined = weakref.ref(RunHandler)
    del handler, RunHandler
    gc.collect()
    assert defined() is None
