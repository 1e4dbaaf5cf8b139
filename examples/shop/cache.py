"""Login sessions and price lookups."""

from __future__ import annotations

import functools
import secrets
from dataclasses import dataclass, field

from shop.pricing import list_price_cents


@dataclass
class Session:
    """A logged-in user's session."""

    user_id: int
    token: str
    cart: list[str] = field(default_factory=list)


_SESSIONS: dict[str, Session] = {}


def login(user_id: int) -> Session:
    """Open a session for ``user_id`` and remember it by key.

    Sessions are never evicted: every new user grows ``_SESSIONS`` for the
    life of the process (the leak ``test_login_leaks_sessions`` shows).
    """
    session = Session(user_id=user_id, token=secrets.token_hex(16))
    _SESSIONS[f"user:{user_id}"] = session
    return session


@functools.lru_cache(maxsize=128)
def price_of(sku: str) -> int:
    """Cached list price of ``sku`` in cents; the cache stops growing at 128 SKUs."""
    return list_price_cents(sku)
