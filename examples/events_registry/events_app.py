"""A pyee-style event emitter and a service that listens to it.

``Emitter`` keeps its listeners in a dict of lists, ``{event: [listener, ...]}``, as
pyee's ``EventEmitter`` does; ``emitter`` is the application's one instance. The
``pytest.ini`` next to this file declares ``emitter._events`` as a registry, so that
pytest-memguard names it when a test leaves a listener in it.
"""

from __future__ import annotations

from collections.abc import Callable

Listener = Callable[[str], None]


class Emitter:
    """Calls the listeners of an event, in the order they were added."""

    def __init__(self) -> None:
        self._events: dict[str, list[Listener]] = {}

    def on(self, event: str, fn: Listener) -> Listener:
        """Call ``fn`` on every future ``event`` until it is removed with :meth:`off`."""
        self._events.setdefault(event, []).append(fn)
        return fn

    def off(self, event: str, fn: Listener) -> None:
        """Stop calling ``fn`` on ``event``."""
        self._events[event].remove(fn)

    def emit(self, event: str, payload: str) -> int:
        """Call every listener of ``event`` with ``payload``; return how many ran."""
        listeners = list(self._events.get(event, ()))
        for fn in listeners:
            fn(payload)
        return len(listeners)


emitter = Emitter()


class Mailer:
    """Sends a receipt for every placed order while it is started."""

    def __init__(self) -> None:
        self.sent: list[str] = []

    def start(self) -> None:
        """Listen to ``order.placed``; the emitter keeps this mailer alive until stop()."""
        emitter.on("order.placed", self.send_receipt)

    def stop(self) -> None:
        """Stop listening, so the mailer can be freed."""
        emitter.off("order.placed", self.send_receipt)

    def send_receipt(self, order: str) -> None:
        """Record the receipt of ``order`` (a real mailer would send it)."""
        self.sent.append(f"receipt for {order}")
