"""pytest-memguard: memory-regression testing for pytest.

How one guarded test runs (``docs/architecture.md`` tells it in full)::

    plugin          is the item guarded? (marker > command line > ini); builder assembles
                    the session's guard at the first guarded test
    guard           screen, confirm, explain, decide; the result is a record
      screen/       one run in a young-heap window: survivors, what pytest holds, triage
      sentinels/    threads, timers, tasks, descriptors, children, handlers, hooks
      confirm/      suspect and limit rules, the bound of a holder, the re-run budget
      explain/      retainer chains, kinds, allocation sites, one root per cause
    record          the verdict and figures as plain data on the test report
    report/         terminal, JSON and HTML renderers; the report files
    history/        SQLite history, compare-fail, the known-leak baseline, ``memguard``
"""

from pytest_memguard.findings import ChainEdge, Finding, Frame
from pytest_memguard.record import TestRecord

__version__ = "0.1.0"
__all__ = ["ChainEdge", "Finding", "Frame", "TestRecord", "__version__"]
