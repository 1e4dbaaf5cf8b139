"""A lazy proxy as web frameworks make them, for tests of code that must never ask it
its class."""

from __future__ import annotations


class UnboundProxy:
    """A lazy proxy whose ``__class__`` raises until it is bound (werkzeug's
    ``LocalProxy`` outside a request): ``isinstance()`` of it raises too."""

    @property  # type: ignore[misc]
    def __class__(self) -> type:
        raise RuntimeError("working outside of a request context")
