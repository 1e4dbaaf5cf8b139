"""Generate a realistic, deterministic test-suite for overhead benchmarks.

The generated directory holds a small package under test (``ledger``: parsers, dataclasses, a
dict-based repository, string formatting, JSON round-trips, small numeric work) and about fifteen
test modules in the styles a real project mixes: heavy ``parametrize``, function/module/session
fixtures, test classes, a ``unittest.TestCase`` module, ``tmp_path``, ``capsys`` and ``caplog``.
Every test passes and nothing in it leaks: it measures the cost of guarding tests, not detection.

With ``big_heap`` a root ``conftest.py`` adds a session-scoped autouse fixture holding 1,000,000
one-element lists, so every test runs on top of a big heap.

Usage::

    python benchmarks/suite_factory.py OUT_DIR [--tests N] [--big-heap]
"""

from __future__ import annotations

import argparse
import random
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from string import Template

DEFAULT_TESTS = 1500
BALLAST_OBJECTS = 1_000_000
_SEED = 20240611

_WORDS = (
    "alpha", "amber", "anchor", "basil", "birch", "cedar", "cobalt", "coral", "delta", "ember",
    "falcon", "fern", "garnet", "harbor", "indigo", "iris", "jade", "juniper", "kettle", "lemon",
    "linen", "maple", "marble", "nectar", "nickel", "olive", "onyx", "pepper", "quartz", "raven",
    "saffron", "sierra", "tango", "thistle", "umber", "velvet", "walnut", "willow", "yarrow",
    "zinc",
)  # fmt: skip
_MIXED_WORDS = (
    *_WORDS[:20], "Crème", "brûlée", "Hello,", "World!", "foo_bar", "C++", "v2.0", "naïve",
    "ÅNGSTRÖM", "--dash--", "50%", "e-mail", "O'Brien", "(draft)",
)  # fmt: skip
_CSV_FIELDS = ("a,b", 'say "hi"', " padded ", "", "12.50", "x", "semi;colon", "'single'")

# ---------------------------------------------------------------------------------------------
# The package under test.
# ---------------------------------------------------------------------------------------------

_PACKAGE: dict[str, str] = {
    "__init__.py": '''\
"""ledger: a small order-keeping package, the code under test of the benchmark suite."""

__version__ = "1.4.2"
''',
    "parsing.py": '''\
"""Parsers for the small text formats the ledger reads and writes."""

from __future__ import annotations

import re

SIZE_UNITS = {
    "B": 1, "KB": 1000, "KiB": 1024, "MB": 1000**2, "MiB": 1024**2, "GB": 1000**3, "GiB": 1024**3,
}
_SIZE = re.compile(r"\\s*(\\d+(?:\\.\\d+)?)\\s*([KMG]i?B|B)\\s*")
_DURATION = re.compile(r"(?:\\d+(?:ms|h|m|s))+")
_DURATION_PART = re.compile(r"(\\d+)(ms|h|m|s)")
_DURATION_UNITS = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}


class ParseError(ValueError):
    """Raised when a text does not follow the expected format."""


def parse_kv(line: str, sep: str = ";") -> dict[str, str]:
    """Parse ``key=value`` pairs separated by ``sep``."""
    result: dict[str, str] = {}
    for raw in line.split(sep):
        part = raw.strip()
        if not part:
            continue
        key, eq, value = part.partition("=")
        if not eq or not key.strip():
            raise ParseError(f"not a key=value pair: {part!r}")
        result[key.strip()] = value.strip()
    return result


def format_kv(pairs: dict[str, str], sep: str = ";") -> str:
    """Format a mapping the way parse_kv reads it."""
    return f"{sep} ".join(f"{key}={value}" for key, value in pairs.items())


def parse_csv_row(line: str) -> list[str]:
    """Split one CSV line, honouring double quotes and doubled quotes inside them."""
    fields: list[str] = []
    current: list[str] = []
    in_quotes = False
    i = 0
    while i < len(line):
        char = line[i]
        if in_quotes:
            if char == '"' and line[i + 1 : i + 2] == '"':
                current.append('"')
                i += 1
            elif char == '"':
                in_quotes = False
            else:
                current.append(char)
        elif char == '"':
            in_quotes = True
        elif char == ",":
            fields.append("".join(current))
            current = []
        else:
            current.append(char)
        i += 1
    if in_quotes:
        raise ParseError(f"unterminated quote in {line!r}")
    fields.append("".join(current))
    return fields


def format_csv_row(fields: list[str]) -> str:
    """Join fields into one CSV line, quoting where needed."""
    out = []
    for field in fields:
        if any(c in field for c in ',"\\n') or field != field.strip():
            field = '"' + field.replace('"', '""') + '"'
        out.append(field)
    return ",".join(out)


def parse_size(text: str) -> int:
    """Parse a human size such as ``1.5 KiB`` into bytes."""
    match = _SIZE.fullmatch(text)
    if match is None:
        raise ParseError(f"not a size: {text!r}")
    number, unit = match.groups()
    return round(float(number) * SIZE_UNITS[unit])


def parse_duration(text: str) -> float:
    """Parse a duration such as ``1h30m`` or ``250ms`` into seconds."""
    if not _DURATION.fullmatch(text):
        raise ParseError(f"not a duration: {text!r}")
    return sum(int(n) * _DURATION_UNITS[unit] for n, unit in _DURATION_PART.findall(text))


def format_duration(seconds: int) -> str:
    """Format whole seconds the way parse_duration reads them."""
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    pairs = ((hours, "h"), (minutes, "m"), (secs, "s"))
    return "".join(f"{value}{unit}" for value, unit in pairs if value) or "0s"


def parse_version(text: str) -> tuple[int, ...]:
    """Parse a dotted version such as ``1.10.0``."""
    parts = text.strip().split(".")
    if not all(part.isdigit() for part in parts):
        raise ParseError(f"not a version: {text!r}")
    return tuple(int(part) for part in parts)
''',
    "models.py": '''\
"""Domain records: money, products, orders."""

from __future__ import annotations

from dataclasses import dataclass, field

STATUSES = ("open", "paid", "shipped", "cancelled")


@dataclass(frozen=True, order=True)
class Money:
    """An amount in cents of one currency."""

    cents: int
    currency: str = "EUR"

    def __add__(self, other: Money) -> Money:
        if other.currency != self.currency:
            raise ValueError(f"cannot add {other.currency} to {self.currency}")
        return Money(self.cents + other.cents, self.currency)

    def __mul__(self, factor: int) -> Money:
        return Money(self.cents * factor, self.currency)


@dataclass(frozen=True)
class Product:
    """Something that can be ordered."""

    sku: str
    name: str
    price: Money
    tags: tuple[str, ...] = ()


@dataclass
class LineItem:
    """A product and a quantity within an order."""

    product: Product
    quantity: int = 1

    def total(self) -> Money:
        return self.product.price * self.quantity


@dataclass
class Order:
    """A customer's order."""

    order_id: int
    customer: str
    items: list[LineItem] = field(default_factory=list)
    status: str = "open"
    currency: str = "EUR"

    def add(self, product: Product, quantity: int = 1) -> LineItem:
        item = LineItem(product, quantity)
        self.items.append(item)
        return item

    def total(self) -> Money:
        total = Money(0, self.currency)
        for item in self.items:
            total = total + item.total()
        return total

    def item_count(self) -> int:
        return sum(item.quantity for item in self.items)
''',
    "repository.py": '''\
"""A dict-backed repository keyed by a function of the stored item."""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterator
from typing import Any, Generic, TypeVar

T = TypeVar("T")


class NotFoundError(KeyError):
    """No item has this key."""


class DuplicateError(ValueError):
    """An item with this key is already stored."""


class Repository(Generic[T]):
    """Items stored in a dict under ``key(item)``."""

    def __init__(self, key: Callable[[T], Hashable]) -> None:
        self._key = key
        self._items: dict[Hashable, T] = {}

    def add(self, item: T) -> None:
        key = self._key(item)
        if key in self._items:
            raise DuplicateError(key)
        self._items[key] = item

    def get(self, key: Hashable) -> T:
        try:
            return self._items[key]
        except KeyError:
            raise NotFoundError(key) from None

    def update(self, item: T) -> None:
        key = self._key(item)
        if key not in self._items:
            raise NotFoundError(key)
        self._items[key] = item

    def delete(self, key: Hashable) -> None:
        if key not in self._items:
            raise NotFoundError(key)
        del self._items[key]

    def find(self, predicate: Callable[[T], bool]) -> list[T]:
        return [item for item in self._items.values() if predicate(item)]

    def keys(self) -> list[Any]:
        return sorted(self._items)  # type: ignore[type-var]

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, key: object) -> bool:
        return key in self._items

    def __iter__(self) -> Iterator[T]:
        return iter(list(self._items.values()))
''',
    "formatting.py": '''\
"""Human-facing formatting: money, slugs, plurals, tables."""

from __future__ import annotations

import re
import unicodedata

from ledger.models import Money

_NON_ALNUM = re.compile(r"[^a-z0-9]+")


def format_money(money: Money) -> str:
    """``1,234.56 EUR``."""
    sign = "-" if money.cents < 0 else ""
    units, cents = divmod(abs(money.cents), 100)
    return f"{sign}{units:,}.{cents:02d} {money.currency}"


def parse_money(text: str) -> Money:
    """Read back what format_money wrote."""
    amount, _, currency = text.rpartition(" ")
    units, _, cents = amount.lstrip("-").replace(",", "").partition(".")
    value = int(units) * 100 + int(cents)
    return Money(-value if amount.startswith("-") else value, currency)


def slugify(text: str) -> str:
    """Lower-case ASCII words joined by dashes."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    return _NON_ALNUM.sub("-", ascii_text.lower()).strip("-")


def pluralize(count: int, word: str) -> str:
    """``1 item``, ``2 boxes``, ``3 categories``."""
    if count == 1:
        return f"1 {word}"
    if word.endswith(("s", "x", "z", "ch", "sh")):
        plural = word + "es"
    elif word.endswith("y") and word[-2:-1] not in "aeiou":
        plural = word[:-1] + "ies"
    else:
        plural = word + "s"
    return f"{count} {plural}"


def truncate(text: str, width: int, suffix: str = "...") -> str:
    """Cut ``text`` to ``width`` characters, ending with ``suffix`` when cut."""
    if len(text) <= width:
        return text
    return text[: max(0, width - len(suffix))] + suffix


def render_table(headers: list[str], rows: list[list[str]]) -> str:
    """A plain-text table with a header and a separator line."""
    for row in rows:
        if len(row) != len(headers):
            raise ValueError(f"row has {len(row)} cells, expected {len(headers)}")
    widths = [max(len(cell) for cell in column) for column in zip(headers, *rows)]
    lines = [
        " | ".join(cell.ljust(width) for cell, width in zip(headers, widths)),
        "-+-".join("-" * width for width in widths),
    ]
    lines += [" | ".join(cell.ljust(width) for cell, width in zip(row, widths)) for row in rows]
    return "\\n".join(lines)
''',
    "serialization.py": '''\
"""JSON round-trips for products and orders."""

from __future__ import annotations

import json
from typing import Any

from ledger.models import LineItem, Money, Order, Product

SCHEMA = 1


def product_to_dict(product: Product) -> dict[str, Any]:
    return {
        "sku": product.sku,
        "name": product.name,
        "price": product.price.cents,
        "currency": product.price.currency,
        "tags": list(product.tags),
    }


def product_from_dict(data: dict[str, Any]) -> Product:
    price = Money(data["price"], data["currency"])
    return Product(data["sku"], data["name"], price, tuple(data["tags"]))


def order_to_dict(order: Order) -> dict[str, Any]:
    return {
        "id": order.order_id,
        "customer": order.customer,
        "status": order.status,
        "currency": order.currency,
        "items": [
            {"product": product_to_dict(item.product), "quantity": item.quantity}
            for item in order.items
        ],
    }


def order_from_dict(data: dict[str, Any]) -> Order:
    items = [LineItem(product_from_dict(i["product"]), i["quantity"]) for i in data["items"]]
    return Order(data["id"], data["customer"], items, data["status"], data["currency"])


def dumps(order: Order) -> str:
    return json.dumps({"schema": SCHEMA, "order": order_to_dict(order)}, sort_keys=True)


def loads(text: str) -> Order:
    data = json.loads(text)
    if data.get("schema") != SCHEMA:
        raise ValueError(f"unsupported schema {data.get('schema')!r}")
    return order_from_dict(data["order"])
''',
    "numeric.py": '''\
"""Small numeric helpers: statistics, primes, matrices."""

from __future__ import annotations

import math


def mean(values: list[float]) -> float:
    if not values:
        raise ValueError("mean of empty data")
    return sum(values) / len(values)


def median(values: list[float]) -> float:
    ordered = sorted(values)
    if not ordered:
        raise ValueError("median of empty data")
    mid = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[mid]
    return (ordered[mid - 1] + ordered[mid]) / 2


def variance(values: list[float]) -> float:
    centre = mean(values)
    return sum((v - centre) ** 2 for v in values) / len(values)


def stddev(values: list[float]) -> float:
    return math.sqrt(variance(values))


def percentile(values: list[float], p: int) -> float:
    """Nearest-rank percentile."""
    if not 0 <= p <= 100:
        raise ValueError(f"percentile out of range: {p}")
    ordered = sorted(values)
    rank = max(1, math.ceil(p * len(ordered) / 100))
    return ordered[rank - 1]


def moving_average(values: list[float], window: int) -> list[float]:
    return [sum(values[i : i + window]) / window for i in range(len(values) - window + 1)]


def is_prime(n: int) -> bool:
    if n < 2:
        return False
    if n < 4:
        return True
    if n % 2 == 0:
        return False
    divisor = 3
    while divisor * divisor <= n:
        if n % divisor == 0:
            return False
        divisor += 2
    return True


def primes_up_to(limit: int) -> list[int]:
    """Sieve of Eratosthenes, ``limit`` included."""
    sieve = [True] * (limit + 1)
    sieve[:2] = [False] * min(2, limit + 1)
    for n in range(2, math.isqrt(limit) + 1):
        if sieve[n]:
            sieve[n * n :: n] = [False] * len(range(n * n, limit + 1, n))
    return [n for n, prime in enumerate(sieve) if prime]


def identity(size: int) -> list[list[int]]:
    return [[int(row == col) for col in range(size)] for row in range(size)]


def transpose(matrix: list[list[int]]) -> list[list[int]]:
    return [list(column) for column in zip(*matrix)]


def matmul(a: list[list[int]], b: list[list[int]]) -> list[list[int]]:
    if len(a[0]) != len(b):
        raise ValueError(f"cannot multiply {len(a)}x{len(a[0])} by {len(b)}x{len(b[0])}")
    return [[sum(x * y for x, y in zip(row, column)) for column in zip(*b)] for row in a]


def clamp(value: float, low: float, high: float) -> float:
    return max(low, min(high, value))
''',
    "reporting.py": '''\
"""Console summaries and stock warnings."""

from __future__ import annotations

import logging

from ledger.formatting import format_money, pluralize
from ledger.models import Money, Order

logger = logging.getLogger("ledger.reporting")


def summarize(orders: list[Order]) -> dict[str, int]:
    return {
        "orders": len(orders),
        "items": sum(order.item_count() for order in orders),
        "total_cents": sum(order.total().cents for order in orders),
    }


def print_summary(orders: list[Order]) -> None:
    summary = summarize(orders)
    print(pluralize(summary["orders"], "order"))
    print(f"items: {summary['items']}")
    print(f"total: {format_money(Money(summary['total_cents']))}")


def check_stock(levels: dict[str, int], threshold: int = 5) -> list[str]:
    """Log a warning per SKU under ``threshold``; return those SKUs, sorted."""
    low = sorted(sku for sku, quantity in levels.items() if quantity < threshold)
    for sku in low:
        logger.warning("low stock for %s: %d left", sku, levels[sku])
    if not low:
        logger.info("stock ok for %d skus", len(levels))
    return low
''',
    "storage.py": '''\
"""Orders on disk, one JSON document per line."""

from __future__ import annotations

import json
from pathlib import Path

from ledger.models import Order
from ledger.serialization import order_from_dict, order_to_dict


def save_orders(path: Path, orders: list[Order]) -> int:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as handle:
        for order in orders:
            handle.write(json.dumps(order_to_dict(order), sort_keys=True) + "\\n")
    return len(orders)


def load_orders(path: Path) -> list[Order]:
    with path.open(encoding="utf-8") as handle:
        return [order_from_dict(json.loads(line)) for line in handle if line.strip()]
''',
}

_PYTEST_INI = """\
[pytest]
testpaths = tests
pythonpath = .
"""

_CONFTEST = Template('''\
"""Shared fixtures of the ledger test-suite."""

import itertools

import pytest

from ledger.models import Money, Order, Product
from ledger.numeric import primes_up_to

PRIME_LIMIT = $prime_limit


@pytest.fixture(scope="session")
def settings():
    return {"currency": "EUR", "schema": 1, "low_stock": 5}


@pytest.fixture(scope="session")
def prime_set():
    return frozenset(primes_up_to(PRIME_LIMIT))


@pytest.fixture(scope="session")
def products():
    catalog = {}
    for i in range(40):
        tags = ("even",) if i % 2 == 0 else ("odd",)
        catalog[f"SKU-{i:03d}"] = Product(f"SKU-{i:03d}", f"Product {i}", Money(100 + 7 * i), tags)
    return catalog


@pytest.fixture
def order_factory(products):
    counter = itertools.count(1)
    skus = sorted(products)

    def make(n_items=1, customer="alice"):
        order = Order(next(counter), customer)
        for i in range(n_items):
            order.add(products[skus[i % len(skus)]], quantity=1 + i % 3)
        return order

    return make
''')

_BIG_HEAP_CONFTEST = f'''\
"""Ballast: a session-scoped autouse fixture that keeps the heap big for every test."""

import pytest

BALLAST_OBJECTS = {BALLAST_OBJECTS}


@pytest.fixture(scope="session", autouse=True)
def _ballast():
    ballast = [[i] for i in range(BALLAST_OBJECTS)]
    yield ballast
    ballast.clear()
'''

# ---------------------------------------------------------------------------------------------
# Test modules. Each has a fixed number of tests plus, when its weight is non-zero, one
# parametrized test whose number of cases ($$k) scales with the requested suite size.
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _ModuleSpec:
    """One generated test module."""

    name: str
    fixed_tests: int
    weight: int
    template: Template
    cases: Callable[[random.Random, int], list[object]] | None = None


def _literal(cases: list[object]) -> str:
    """A Python list literal, one case per line."""
    return "[\n" + "".join(f"    {case!r},\n" for case in cases) + "]"


def _kv_cases(rng: random.Random, k: int) -> list[object]:
    def value() -> str:
        word = rng.choice(_WORDS)
        return rng.choice((word, str(rng.randint(0, 9999)), f"{word}={rng.choice(_WORDS)}"))

    return [
        {f"{rng.choice(_WORDS)}_{j}": value() for j in range(rng.randint(1, 5))} for _ in range(k)
    ]


def _csv_cases(rng: random.Random, k: int) -> list[object]:
    pool = _CSV_FIELDS + _WORDS
    return [[rng.choice(pool) for _ in range(rng.randint(1, 6))] for _ in range(k)]


def _line_cases(rng: random.Random, k: int) -> list[object]:
    return [(rng.randint(0, 99_999), rng.randint(0, 50)) for _ in range(k)]


def _sku_cases(rng: random.Random, k: int) -> list[object]:
    return [f"{rng.choice(_WORDS)[:3].upper()}-{i:05d}" for i in range(k)]


def _amount_cases(rng: random.Random, k: int) -> list[object]:
    return [rng.randint(-10_000_000, 10_000_000) for _ in range(k)]


def _sentence_cases(rng: random.Random, k: int) -> list[object]:
    return [" ".join(rng.choices(_MIXED_WORDS, k=rng.randint(1, 6))) for _ in range(k)]


def _order_cases(rng: random.Random, k: int) -> list[object]:
    return [
        (
            i + 1,
            rng.choice(_WORDS).title(),
            [
                (f"SKU-{rng.randint(1, 999):03d}", rng.randint(1, 10_000), rng.randint(1, 9))
                for _ in range(rng.randint(0, 4))
            ],
        )
        for i in range(k)
    ]


def _sample_cases(rng: random.Random, k: int) -> list[object]:
    return [[rng.randint(-100, 100) for _ in range(rng.randint(3, 12))] for _ in range(k)]


def _matrix_cases(rng: random.Random, k: int) -> list[object]:
    cases: list[object] = []
    for _ in range(k):
        rows, cols = rng.randint(1, 4), rng.randint(1, 4)
        cases.append([[rng.randint(-9, 9) for _ in range(cols)] for _ in range(rows)])
    return cases


_MODULES: tuple[_ModuleSpec, ...] = (
    _ModuleSpec(
        "test_parsing_kv.py",
        9,
        8,
        Template('''\
"""key=value parsing."""

import pytest

from ledger.parsing import ParseError, format_kv, parse_kv

PAIRS = $cases


def test_parse_simple():
    assert parse_kv("a=1; b=2") == {"a": "1", "b": "2"}


def test_parse_blank_line():
    assert parse_kv("  ") == {}


def test_value_may_contain_equals():
    assert parse_kv("url=a=b") == {"url": "a=b"}


@pytest.mark.parametrize("line", ["novalue", "=x", "a=1; broken"])
def test_rejects_malformed(line):
    with pytest.raises(ParseError):
        parse_kv(line)


@pytest.mark.parametrize("sep", [";", ",", "|"])
def test_custom_separator(sep):
    assert parse_kv(f"x=1{sep} y=2", sep=sep) == {"x": "1", "y": "2"}


@pytest.mark.parametrize("pairs", PAIRS)
def test_roundtrip(pairs):
    assert parse_kv(format_kv(pairs)) == pairs
'''),
        _kv_cases,
    ),
    _ModuleSpec(
        "test_parsing_csv.py",
        9,
        8,
        Template('''\
"""CSV row parsing, checked against the standard library."""

import csv

import pytest

from ledger.parsing import ParseError, format_csv_row, parse_csv_row

ROWS = $cases


def test_plain_row():
    assert parse_csv_row("a,b,c") == ["a", "b", "c"]


def test_quoted_comma():
    assert parse_csv_row('"a,b",c') == ["a,b", "c"]


def test_escaped_quote():
    assert parse_csv_row('"say ""hi""",x') == ['say "hi"', "x"]


def test_empty_fields():
    assert parse_csv_row("a,,c") == ["a", "", "c"]


def test_unterminated_quote():
    with pytest.raises(ParseError):
        parse_csv_row('"open,x')


class TestAgainstStdlib:
    @pytest.mark.parametrize("line", ["a,b,c", '"a,b",c', '"x ""y""",z', "one,,three"])
    def test_same_as_csv_module(self, line):
        assert parse_csv_row(line) == next(csv.reader([line]))


@pytest.mark.parametrize("row", ROWS)
def test_roundtrip(row):
    assert parse_csv_row(format_csv_row(row)) == row
'''),
        _csv_cases,
    ),
    _ModuleSpec(
        "test_parsing_units.py",
        14,
        6,
        Template('''\
"""Sizes, durations and versions."""

import pytest

from ledger.parsing import ParseError, format_duration, parse_duration, parse_size, parse_version


@pytest.mark.parametrize(
    ("text", "expected"),
    [("0 B", 0), ("1 KB", 1000), ("1 KiB", 1024), ("1.5 KiB", 1536), ("2 MiB", 2097152),
     ("1 GB", 10**9)],
)
def test_parse_size(text, expected):
    assert parse_size(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"), [("1h", 3600), ("1h30m", 5400), ("250ms", 0.25), ("1m1s", 61)]
)
def test_parse_duration(text, expected):
    assert parse_duration(text) == pytest.approx(expected)


@pytest.mark.parametrize("text", ["", "12 parsecs", "KiB"])
def test_parse_size_rejects(text):
    with pytest.raises(ParseError):
        parse_size(text)


def test_version_ordering():
    assert parse_version("1.10.0") > parse_version("1.9.3")


@pytest.mark.parametrize("seconds", range(0, $seconds_stop, 37))
def test_duration_roundtrip(seconds):
    assert parse_duration(format_duration(seconds)) == seconds
'''),
    ),
    _ModuleSpec(
        "test_models.py",
        18,
        10,
        Template('''\
"""Money, products and orders."""

import dataclasses

import pytest

from ledger.models import LineItem, Money, Order, Product

LINES = $cases


@pytest.fixture(scope="module")
def catalog():
    return {
        "pen": Product("P-1", "Pen", Money(150)),
        "pad": Product("P-2", "Notepad", Money(420), ("paper",)),
        "ink": Product("P-3", "Ink", Money(999), ("refill",)),
    }


class TestMoney:
    def test_add(self):
        assert Money(150) + Money(250) == Money(400)

    def test_add_rejects_other_currency(self):
        with pytest.raises(ValueError):
            Money(1, "EUR") + Money(1, "USD")

    def test_multiply(self):
        assert Money(125) * 4 == Money(500)

    def test_ordering(self):
        assert sorted([Money(3), Money(1), Money(2)]) == [Money(1), Money(2), Money(3)]


class TestOrder:
    def test_empty_total(self):
        assert Order(1, "bob").total() == Money(0)

    def test_total(self, catalog):
        order = Order(2, "bob")
        order.add(catalog["pen"], 2)
        order.add(catalog["ink"])
        assert order.total() == Money(1299)

    def test_item_count(self, catalog):
        order = Order(3, "eve")
        order.add(catalog["pad"], 3)
        order.add(catalog["pen"])
        assert order.item_count() == 4

    def test_default_status(self):
        assert Order(4, "eve").status == "open"


def test_money_is_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        Money(1).cents = 2


@pytest.mark.parametrize("currency", ["EUR", "USD", "GBP"])
@pytest.mark.parametrize("quantity", [1, 2, 10])
def test_line_item_keeps_currency(currency, quantity):
    item = LineItem(Product("X", "x", Money(99, currency)), quantity)
    assert item.total() == Money(99 * quantity, currency)


@pytest.mark.parametrize(("price", "quantity"), LINES)
def test_line_total(price, quantity):
    assert LineItem(Product("S", "s", Money(price)), quantity).total().cents == price * quantity
'''),
        _line_cases,
    ),
    _ModuleSpec(
        "test_repository.py",
        9,
        10,
        Template('''\
"""The dict-backed repository."""

import pytest

from ledger.models import Money, Product
from ledger.repository import DuplicateError, NotFoundError, Repository

SKUS = $cases


def sku_of(product):
    return product.sku


@pytest.fixture
def repo():
    return Repository(key=sku_of)


@pytest.fixture(scope="module")
def populated():
    repository = Repository(key=sku_of)
    for i in range(50):
        tags = ("clearance",) if i % 5 == 0 else ()
        repository.add(Product(f"R-{i:02d}", f"Item {i}", Money(10 * i), tags))
    return repository


def test_add_and_get(repo):
    repo.add(Product("A", "a", Money(1)))
    assert repo.get("A").name == "a"


def test_duplicate_rejected(repo):
    repo.add(Product("A", "a", Money(1)))
    with pytest.raises(DuplicateError):
        repo.add(Product("A", "b", Money(2)))


def test_missing_raises(repo):
    with pytest.raises(NotFoundError):
        repo.get("nope")


def test_delete(repo):
    repo.add(Product("A", "a", Money(1)))
    repo.delete("A")
    assert "A" not in repo


def test_update(repo):
    repo.add(Product("A", "a", Money(1)))
    repo.update(Product("A", "a2", Money(2)))
    assert repo.get("A").price == Money(2)


def test_len_and_contains(repo):
    for sku in ("A", "B", "C"):
        repo.add(Product(sku, sku.lower(), Money(1)))
    assert len(repo) == 3
    assert "B" in repo


class TestQueries:
    def test_find_by_tag(self, populated):
        assert len(populated.find(lambda p: "clearance" in p.tags)) == 10

    def test_count(self, populated):
        assert len(populated) == 50

    def test_keys_sorted(self, populated):
        keys = populated.keys()
        assert keys == sorted(keys)
        assert keys[0] == "R-00"


@pytest.mark.parametrize("sku", SKUS)
def test_add_then_get(repo, sku):
    repo.add(Product(sku, sku.title(), Money(len(sku))))
    assert repo.get(sku).sku == sku
    assert len(repo) == 1
'''),
        _sku_cases,
    ),
    _ModuleSpec(
        "test_formatting_money.py",
        6,
        8,
        Template('''\
"""Money formatting."""

import pytest

from ledger.formatting import format_money, parse_money
from ledger.models import Money

AMOUNTS = $cases


@pytest.mark.parametrize(
    ("cents", "text"),
    [(0, "0.00 EUR"), (5, "0.05 EUR"), (123456, "1,234.56 EUR"), (-100, "-1.00 EUR"),
     (100000000, "1,000,000.00 EUR")],
)
def test_known_amounts(cents, text):
    assert format_money(Money(cents)) == text


def test_currency_suffix(settings):
    assert format_money(Money(100, "USD")) == "1.00 USD"
    assert format_money(Money(100)).endswith(settings["currency"])


@pytest.mark.parametrize("cents", AMOUNTS)
def test_roundtrip(cents):
    assert parse_money(format_money(Money(cents))) == Money(cents)
'''),
        _amount_cases,
    ),
    _ModuleSpec(
        "test_formatting_text.py",
        11,
        8,
        Template('''\
"""Slugs, plurals and truncation."""

import re

import pytest

from ledger.formatting import pluralize, slugify, truncate

SENTENCES = $cases


@pytest.mark.parametrize(
    ("text", "slug"),
    [("Hello World", "hello-world"), ("  Spaces  around ", "spaces-around"),
     ("Ünïcödé text", "unicode-text"), ("a--b__c", "a-b-c"), ("", "")],
)
def test_slugify(text, slug):
    assert slugify(text) == slug


@pytest.mark.parametrize(
    ("count", "word", "expected"),
    [(0, "item", "0 items"), (1, "item", "1 item"), (2, "box", "2 boxes"),
     (3, "category", "3 categories")],
)
def test_pluralize(count, word, expected):
    assert pluralize(count, word) == expected


def test_truncate_short_text_unchanged():
    assert truncate("short", 10) == "short"


def test_truncate_long_text():
    assert truncate("a long sentence here", 10) == "a long ..."


@pytest.mark.parametrize("text", SENTENCES)
def test_slug_is_stable(text):
    slug = slugify(text)
    assert slugify(slug) == slug
    assert re.fullmatch(r"[a-z0-9-]*", slug)
'''),
        _sentence_cases,
    ),
    _ModuleSpec(
        "test_tables.py",
        5,
        5,
        Template('''\
"""Plain-text tables."""

import pytest

from ledger.formatting import render_table


@pytest.fixture(scope="module")
def table_lines():
    rows = [["1", "pen", "1.50"], ["2", "notepad", "4.20"], ["3", "ink", "9.99"]]
    return render_table(["id", "name", "price"], rows).splitlines()


def test_header_and_separator():
    assert render_table(["a", "bb"], []) == "a | bb\\n--+---"


def test_rows_have_equal_width():
    lines = render_table(["k", "value"], [["long key", "v"], ["k", "long value"]]).splitlines()
    assert len({len(line) for line in lines}) == 1


def test_mismatched_row_rejected():
    with pytest.raises(ValueError):
        render_table(["a", "b"], [["only one"]])


class TestRenderedTable:
    def test_line_count(self, table_lines):
        assert len(table_lines) == 5

    def test_first_column(self, table_lines):
        assert [line.split(" | ")[0].strip() for line in table_lines[2:]] == ["1", "2", "3"]


@pytest.mark.parametrize("case", range($k))
def test_render_many_rows(case):
    n_rows = case % 25 + 1
    rows = [[str(i), "x" * (i % 7), f"{i * 1.5:.1f}"] for i in range(n_rows)]
    lines = render_table(["id", "name", "value"], rows).splitlines()
    assert len(lines) == n_rows + 2
    assert len({len(line) for line in lines}) == 1
'''),
    ),
    _ModuleSpec(
        "test_serialization.py",
        7,
        8,
        Template('''\
"""JSON round-trips."""

import json

import pytest

from ledger.models import STATUSES, Money, Order, Product
from ledger.serialization import SCHEMA, dumps, loads, product_to_dict

ORDERS = $cases


def build(order_id, customer, lines):
    order = Order(order_id, customer)
    for sku, price, quantity in lines:
        tags = ("bulk",) if quantity > 5 else ()
        order.add(Product(sku, sku.lower(), Money(price), tags), quantity)
    return order


def test_product_dict_keys():
    keys = sorted(product_to_dict(Product("A", "a", Money(1))))
    assert keys == ["currency", "name", "price", "sku", "tags"]


def test_dumps_is_sorted_and_versioned(settings):
    data = json.loads(dumps(Order(1, "amy")))
    assert data["schema"] == SCHEMA == settings["schema"]
    assert list(data["order"]) == sorted(data["order"])


def test_loads_rejects_other_schema():
    with pytest.raises(ValueError):
        loads(json.dumps({"schema": 99, "order": {}}))


@pytest.mark.parametrize("status", STATUSES)
def test_status_roundtrip(status):
    assert loads(dumps(Order(7, "kim", status=status))).status == status


@pytest.mark.parametrize(("order_id", "customer", "lines"), ORDERS)
def test_order_roundtrip(order_id, customer, lines):
    order = build(order_id, customer, lines)
    assert loads(dumps(order)) == order
'''),
        _order_cases,
    ),
    _ModuleSpec(
        "test_numeric_stats.py",
        10,
        8,
        Template('''\
"""Descriptive statistics."""

import pytest

from ledger.numeric import mean, median, moving_average, percentile, stddev, variance

SAMPLES = $cases
DATA = [2, 4, 4, 4, 5, 5, 7, 9]


def test_mean():
    assert mean([1, 2, 3, 4]) == 2.5


def test_median_odd():
    assert median([3, 1, 2]) == 2


def test_median_even():
    assert median([4, 1, 3, 2]) == 2.5


def test_variance():
    assert variance(DATA) == 4


def test_stddev():
    assert stddev(DATA) == 2


def test_mean_of_nothing():
    with pytest.raises(ValueError):
        mean([])


@pytest.mark.parametrize(("p", "expected"), [(5, 15), (30, 20), (40, 20), (100, 50)])
def test_percentile(p, expected):
    assert percentile([15, 20, 35, 40, 50], p) == expected


@pytest.mark.parametrize("values", SAMPLES)
def test_invariants(values):
    low, high = min(values), max(values)
    assert low <= mean(values) <= high
    assert low <= median(values) <= high
    assert variance(values) >= 0
    assert len(moving_average(values, 3)) == len(values) - 2
'''),
        _sample_cases,
    ),
    _ModuleSpec(
        "test_numeric_primes.py",
        11,
        10,
        Template('''\
"""Primes."""

import pytest

from ledger.numeric import is_prime, primes_up_to


def test_primes_up_to_30():
    assert primes_up_to(30) == [2, 3, 5, 7, 11, 13, 17, 19, 23, 29]


def test_negative_is_not_prime():
    assert not is_prime(-7)


@pytest.mark.parametrize("n", [2, 3, 97, 7919])
def test_known_primes(n):
    assert is_prime(n)


@pytest.mark.parametrize("n", [0, 1, 4, 91, 7917])
def test_known_composites(n):
    assert not is_prime(n)


@pytest.mark.parametrize("n", range(2, $stop))
def test_matches_sieve(n, prime_set):
    assert is_prime(n) == (n in prime_set)
'''),
    ),
    _ModuleSpec(
        "test_numeric_matrix.py",
        7,
        6,
        Template('''\
"""Small matrices."""

import pytest

from ledger.numeric import clamp, identity, matmul, transpose

MATRICES = $cases


def test_identity():
    assert identity(2) == [[1, 0], [0, 1]]


def test_transpose():
    assert transpose([[1, 2, 3], [4, 5, 6]]) == [[1, 4], [2, 5], [3, 6]]


def test_matmul_2x2():
    assert matmul([[1, 2], [3, 4]], [[5, 6], [7, 8]]) == [[19, 22], [43, 50]]


def test_shape_mismatch():
    with pytest.raises(ValueError):
        matmul([[1, 2]], [[1, 2]])


@pytest.mark.parametrize(("value", "expected"), [(-5, 0), (5, 5), (50, 10)])
def test_clamp(value, expected):
    assert clamp(value, 0, 10) == expected


@pytest.mark.parametrize("matrix", MATRICES)
def test_identity_and_transpose(matrix):
    assert matmul(matrix, identity(len(matrix[0]))) == matrix
    assert transpose(transpose(matrix)) == matrix
'''),
        _matrix_cases,
    ),
    _ModuleSpec(
        "test_unittest_style.py",
        9,
        0,
        Template('''\
"""Tests written against unittest, as the older parts of real suites are."""

import unittest

from ledger.models import Money, Order
from ledger.repository import NotFoundError, Repository


class MoneyTests(unittest.TestCase):
    def setUp(self):
        self.price = Money(250)

    def test_add(self):
        self.assertEqual(self.price + Money(50), Money(300))

    def test_multiply(self):
        self.assertEqual(self.price * 3, Money(750))

    def test_currency_default(self):
        self.assertEqual(self.price.currency, "EUR")

    def test_rejects_mixed_currency(self):
        with self.assertRaises(ValueError):
            self.price + Money(1, "USD")

    def test_ordering(self):
        self.assertLess(Money(1), self.price)


class RepositoryTests(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.repo = Repository(key=lambda order: order.order_id)
        for i in range(1, 11):
            cls.repo.add(Order(i, f"customer-{i}"))

    @classmethod
    def tearDownClass(cls):
        del cls.repo

    def test_count(self):
        self.assertEqual(len(self.repo), 10)

    def test_get(self):
        self.assertEqual(self.repo.get(3).customer, "customer-3")

    def test_missing(self):
        with self.assertRaises(NotFoundError):
            self.repo.get(99)

    def test_find(self):
        self.assertEqual(len(self.repo.find(lambda order: order.order_id % 2 == 0)), 5)
'''),
    ),
    _ModuleSpec(
        "test_storage.py",
        7,
        0,
        Template('''\
"""Saving and loading orders on disk."""

import pytest

from ledger.models import Money, Order, Product
from ledger.storage import load_orders, save_orders


def make_orders(count):
    orders = []
    for i in range(count):
        order = Order(i + 1, f"c{i}")
        order.add(Product(f"S{i}", "thing", Money(100 + i)), 1 + i % 4)
        orders.append(order)
    return orders


def test_save_and_load(tmp_path):
    path = tmp_path / "orders.jsonl"
    orders = make_orders(3)
    assert save_orders(path, orders) == 3
    assert load_orders(path) == orders


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError):
        load_orders(tmp_path / "absent.jsonl")


def test_creates_parent_directories(tmp_path):
    path = tmp_path / "a" / "b" / "orders.jsonl"
    save_orders(path, make_orders(1))
    assert path.exists()


def test_blank_lines_ignored(tmp_path):
    path = tmp_path / "orders.jsonl"
    save_orders(path, make_orders(2))
    path.write_text(path.read_text(encoding="utf-8") + "\\n\\n", encoding="utf-8")
    assert len(load_orders(path)) == 2


@pytest.mark.parametrize("count", [0, 1, 5])
def test_roundtrip_counts(tmp_path, count):
    path = tmp_path / "orders.jsonl"
    save_orders(path, make_orders(count))
    assert len(load_orders(path)) == count
'''),
    ),
    _ModuleSpec(
        "test_reporting.py",
        5,
        5,
        Template('''\
"""Console summaries and stock warnings."""

import logging

import pytest

from ledger.reporting import check_stock, print_summary, summarize


def test_print_summary(capsys, order_factory):
    print_summary([order_factory(2), order_factory(1)])
    out = capsys.readouterr().out
    assert out.splitlines()[0] == "2 orders"
    assert "items: 4" in out


def test_print_summary_empty(capsys):
    print_summary([])
    assert capsys.readouterr().out.splitlines() == ["0 orders", "items: 0", "total: 0.00 EUR"]


def test_summary_fields():
    assert summarize([]) == {"orders": 0, "items": 0, "total_cents": 0}


def test_low_stock_warning(caplog, settings):
    with caplog.at_level(logging.INFO, logger="ledger.reporting"):
        low = check_stock({"pen": 1, "ink": 50, "pad": 0}, threshold=settings["low_stock"])
    assert low == ["pad", "pen"]
    assert [record.levelname for record in caplog.records] == ["WARNING", "WARNING"]


def test_stock_ok_logs_info(caplog):
    with caplog.at_level(logging.INFO, logger="ledger.reporting"):
        assert check_stock({"pen": 10}) == []
    assert "stock ok for 1 skus" in caplog.text


@pytest.mark.parametrize("n_orders", range($k))
def test_summarize_counts(order_factory, n_orders):
    orders = [order_factory(1 + i % 3) for i in range(n_orders % 12)]
    summary = summarize(orders)
    assert summary["orders"] == len(orders)
    assert summary["total_cents"] == sum(order.total().cents for order in orders)
'''),
    ),
)


@dataclass(frozen=True)
class GeneratedSuite:
    """Where a suite was written and how many tests it holds."""

    root: Path
    tests: int
    modules: int
    big_heap: bool


def minimum_tests() -> int:
    """The smallest suite: every fixed test plus one case per scaled test."""
    return sum(spec.fixed_tests + (1 if spec.weight else 0) for spec in _MODULES)


def _allocate(scaled_cases: int) -> list[int]:
    """Split the scaled cases over the modules by weight: at least 1 each, largest remainder."""
    weights = [spec.weight for spec in _MODULES]
    spare = scaled_cases - sum(1 for weight in weights if weight)
    shares = [spare * weight / sum(weights) for weight in weights]
    counts = [int(share) for share in shares]
    by_remainder = sorted(range(len(weights)), key=lambda i: (counts[i] - shares[i], i))
    for i in by_remainder[: spare - sum(counts)]:
        counts[i] += 1
    return [count + (1 if weight else 0) for count, weight in zip(counts, weights, strict=True)]


def generate(root: Path, tests: int = DEFAULT_TESTS, big_heap: bool = False) -> GeneratedSuite:
    """Write the suite into ``root`` (created; must be empty) and return what was written."""
    floor = minimum_tests()
    if tests < floor:
        raise ValueError(f"a generated suite has at least {floor} tests, {tests} requested")
    root.mkdir(parents=True, exist_ok=True)
    if any(root.iterdir()):
        raise ValueError(f"{root} is not empty")
    package = root / "ledger"
    package.mkdir()
    for name, source in _PACKAGE.items():
        (package / name).write_text(source, encoding="utf-8")
    (root / "pytest.ini").write_text(_PYTEST_INI, encoding="utf-8")
    if big_heap:
        (root / "conftest.py").write_text(_BIG_HEAP_CONFTEST, encoding="utf-8")

    test_dir = root / "tests"
    test_dir.mkdir()
    (test_dir / "conftest.py").write_text(
        _CONFTEST.substitute(prime_limit=tests + 2), encoding="utf-8"
    )
    fixed = sum(spec.fixed_tests for spec in _MODULES)
    total = 0
    for index, (spec, k) in enumerate(zip(_MODULES, _allocate(tests - fixed), strict=True)):
        rng = random.Random(_SEED * 100 + index)
        cases = _literal(spec.cases(rng, k)) if spec.cases else ""
        source = spec.template.substitute(cases=cases, k=k, stop=2 + k, seconds_stop=37 * k)
        (test_dir / spec.name).write_text(source, encoding="utf-8")
        total += spec.fixed_tests + k
    return GeneratedSuite(root=root, tests=total, modules=len(_MODULES), big_heap=big_heap)


def main(argv: list[str] | None = None) -> int:
    """Command line: write a suite into a directory."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("directory", type=Path, help="where to write the suite (empty or new)")
    parser.add_argument("--tests", type=int, default=DEFAULT_TESTS, help="number of tests")
    parser.add_argument(
        "--big-heap",
        action="store_true",
        help=f"add a session-scoped autouse fixture holding {BALLAST_OBJECTS:,} small lists",
    )
    args = parser.parse_args(argv)
    try:
        suite = generate(args.directory, args.tests, args.big_heap)
    except ValueError as exc:
        parser.error(str(exc))
    heap = " (big heap)" if suite.big_heap else ""
    print(f"wrote {suite.tests} tests in {suite.modules} modules to {suite.root}{heap}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
