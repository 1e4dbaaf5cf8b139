"""Orders, their lines, and the audit log of placed orders."""

from __future__ import annotations

from dataclasses import dataclass, field

from shop.cache import price_of


@dataclass(eq=False)
class OrderLine:
    """One SKU of an order; ``order`` points back at the order that owns it."""

    sku: str
    quantity: int
    unit_price_cents: int
    order: Order | None = field(default=None, repr=False)

    @property
    def total_cents(self) -> int:
        """Quantity times unit price."""
        return self.quantity * self.unit_price_cents


@dataclass(eq=False)
class Order:
    """A customer's order; each line refers back to it, forming a reference cycle."""

    order_id: int
    lines: list[OrderLine] = field(default_factory=list)

    def add(self, sku: str, quantity: int) -> OrderLine:
        """Add ``quantity`` of ``sku`` at its current price."""
        line = OrderLine(sku, quantity, price_of(sku), order=self)
        self.lines.append(line)
        return line

    @property
    def total_cents(self) -> int:
        """Sum of the line totals."""
        return sum(line.total_cents for line in self.lines)


AUDIT_LOG: list[str] = []


def create_order(order_id: int, items: dict[str, int]) -> Order:
    """An order with one line per ``sku: quantity`` of ``items``."""
    order = Order(order_id)
    for sku, quantity in items.items():
        order.add(sku, quantity)
    return order


def place_order(order: Order) -> None:
    """Record ``order`` in ``AUDIT_LOG``, which keeps every entry forever."""
    AUDIT_LOG.append(f"order {order.order_id}: {len(order.lines)} lines, {order.total_cents} cents")
