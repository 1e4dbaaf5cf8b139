"""Prices, amounts and coupon codes: pure functions."""

from __future__ import annotations

import re
from dataclasses import dataclass

BASE_PRICES_CENTS: dict[str, int] = {"BOOK": 1_500, "TOY": 2_500, "FOOD": 400, "MISC": 999}

_AMOUNT_RE = re.compile(r"^\s*(?P<units>\d+)(?:\.(?P<cents>\d{2}))?\s*(?P<currency>[A-Z]{3})\s*$")


@dataclass(frozen=True)
class Amount:
    """A money amount in minor units (cents) of a currency."""

    cents: int
    currency: str


def parse_amount(text: str) -> Amount:
    """Parse ``"12.50 EUR"`` into ``Amount(1250, "EUR")``; raise ``ValueError`` if malformed."""
    match = _AMOUNT_RE.match(text)
    if match is None:
        raise ValueError(f"not an amount: {text!r}")
    cents = int(match["units"]) * 100 + int(match["cents"] or 0)
    return Amount(cents=cents, currency=match["currency"])


def list_price_cents(sku: str) -> int:
    """List price of ``sku`` (``CATEGORY-NUMBER``) in cents: category base plus a surcharge."""
    category, _, number = sku.partition("-")
    base = BASE_PRICES_CENTS.get(category, BASE_PRICES_CENTS["MISC"])
    return base + sum(map(ord, number)) % 100


def is_valid_coupon(code: str) -> bool:
    """True if ``code`` looks like ``SAVE-1234``.

    The pattern is compiled on each call; ``re`` caches it after the first one.
    """
    return re.compile(r"[A-Z]{4}-\d{4}").fullmatch(code) is not None
