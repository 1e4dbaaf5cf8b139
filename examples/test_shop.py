"""Tests of the example shop, run with ``pytest examples/ --memguard``.

Without ``--memguard`` every test passes. Under ``--memguard`` exactly three fail,
each because the code it calls leaks memory on every call:

- ``test_login_leaks_sessions``: ``shop.cache.login`` stores each session in the
  module-level ``_SESSIONS`` dict and never evicts it (a growing container).
- ``test_subscribe_leaks_closure``: each call subscribes a new handler to
  ``shop.events.bus`` and never unsubscribes it; the handler's closure keeps its
  64 KiB buffer alive (a listener holding a closure).
- ``test_audit_log_leaks_strings``: ``shop.orders.place_order`` appends a new string
  to the module-level ``AUDIT_LOG`` list (untracked objects: str is not seen by the GC).

The others pass: an order's reference cycle is garbage the GC frees, a bounded
``lru_cache``, a first ``re.compile`` and a session-scoped fixture each grow
memory once (warm-up), and ``parse_amount`` is a pure function.
"""

from __future__ import annotations

import itertools

import pytest
from shop.cache import login, price_of
from shop.catalog import Catalog, build_catalog
from shop.events import Event, bus, make_handler
from shop.orders import AUDIT_LOG, create_order, place_order
from shop.pricing import Amount, is_valid_coupon, parse_amount

_user_ids = itertools.count(1)
_order_ids = itertools.count(1)
_sku_numbers = itertools.count(1)


@pytest.fixture(scope="session")
def catalog() -> Catalog:
    """A catalog of 2,000 products, built once for the whole session."""
    return build_catalog(2_000)


def test_login_leaks_sessions() -> None:
    session = login(next(_user_ids))
    assert len(session.token) == 32
    assert session.cart == []


def test_subscribe_leaks_closure() -> None:
    bus.subscribe(make_handler(buffer_size=64 * 1024))
    assert bus.publish(Event("order.placed", "order 1")) >= 1


def test_subscribe_with_unsubscribe_clean() -> None:
    handler = make_handler(buffer_size=64 * 1024)
    bus.subscribe(handler)
    try:
        assert bus.publish(Event("order.placed", "order 1")) >= 1
    finally:
        bus.unsubscribe(handler)


def test_audit_log_leaks_strings() -> None:
    order = create_order(next(_order_ids), {"BOOK-00001": 2})
    place_order(order)
    assert AUDIT_LOG[-1].startswith(f"order {order.order_id}: 1 lines")


def test_order_cycle_is_collected() -> None:
    order = create_order(next(_order_ids), {"BOOK-00001": 2, "TOY-00002": 1})
    assert all(line.order is order for line in order.lines)
    assert order.total_cents == 2 * price_of("BOOK-00001") + price_of("TOY-00002")


def test_price_lookup_bounded_cache() -> None:
    sku = f"FOOD-{next(_sku_numbers):05d}"
    assert price_of(sku) == price_of(sku) > 0


def test_parse_amount_clean() -> None:
    assert parse_amount("12.50 EUR") == Amount(cents=1250, currency="EUR")
    assert parse_amount(" 7 USD ") == Amount(cents=700, currency="USD")
    with pytest.raises(ValueError, match="not an amount"):
        parse_amount("twelve euros")


def test_regex_first_use() -> None:
    assert is_valid_coupon("SAVE-2024")
    assert not is_valid_coupon("save-2024")


def test_catalog_search_session_fixture(catalog: Catalog) -> None:
    assert catalog.search("toy 1001") == [catalog.get("TOY-01001")]
    toys = catalog.search("toy item")
    assert len(toys) == 500
    assert toys[0].price_cents <= toys[-1].price_cents
