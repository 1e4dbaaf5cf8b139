"""An in-process event bus and a buffering event handler."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Event:
    """Something that happened in the shop, such as ``order.placed``."""

    name: str
    payload: str


Handler = Callable[[Event], None]


class EventBus:
    """Delivers each published event to every subscribed handler."""

    def __init__(self) -> None:
        self._handlers: list[Handler] = []

    def subscribe(self, callback: Handler) -> None:
        """Deliver future events to ``callback`` until it is unsubscribed."""
        self._handlers.append(callback)

    def unsubscribe(self, callback: Handler) -> None:
        """Stop delivering events to ``callback``."""
        self._handlers.remove(callback)

    def publish(self, event: Event) -> int:
        """Deliver ``event`` to every handler; return how many received it."""
        for handler in self._handlers:
            handler(event)
        return len(self._handlers)


bus = EventBus()


def make_handler(buffer_size: int) -> Handler:
    """A handler that encodes each event into its own preallocated buffer.

    The closure keeps ``buffer`` (``buffer_size`` bytes) alive for as long as
    the handler itself is referenced, e.g. by ``bus`` while subscribed.
    """
    buffer = bytearray(buffer_size)

    def handle(event: Event) -> None:
        data = f"{event.name}:{event.payload}".encode()[:buffer_size]
        buffer[: len(data)] = data

    return handle
