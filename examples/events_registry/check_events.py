"""Tests of the events example, run with ``pytest examples/events_registry --memguard``.

Without ``--memguard`` both pass. Under ``--memguard``
``test_mailer_left_listening`` fails: each call starts a new ``Mailer``, whose
``send_receipt`` stays in ``emitter._events["order.placed"]`` (with the mailer it is
bound to) because nothing stops it. The failure names the registry declared in
``pytest.ini``::

    listener: listener Mailer.send_receipt added to registry
    'events_app:emitter._events' under ['order.placed'] and not removed

``test_mailer_stopped_in_teardown`` passes: its fixture stops the mailer.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from events_app import Mailer, emitter


def test_mailer_left_listening() -> None:
    mailer = Mailer()
    mailer.start()
    assert emitter.emit("order.placed", "order 1") >= 1
    assert mailer.sent == ["receipt for order 1"]


@pytest.fixture
def mailer() -> Iterator[Mailer]:
    """A started mailer, stopped in teardown."""
    started = Mailer()
    started.start()
    yield started
    started.stop()


def test_mailer_stopped_in_teardown(mailer: Mailer) -> None:
    assert emitter.emit("order.placed", "order 2") >= 1
    assert mailer.sent == ["receipt for order 2"]
