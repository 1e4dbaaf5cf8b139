"""The product catalog."""

from __future__ import annotations

from dataclasses import dataclass

from shop.pricing import list_price_cents


@dataclass(frozen=True)
class Product:
    """A product the shop sells."""

    sku: str
    name: str
    price_cents: int


class Catalog:
    """Products indexed by SKU, searchable by name."""

    def __init__(self, products: list[Product]) -> None:
        self._by_sku = {product.sku: product for product in products}

    def __len__(self) -> int:
        return len(self._by_sku)

    def get(self, sku: str) -> Product:
        """The product with this SKU; raise ``KeyError`` if unknown."""
        return self._by_sku[sku]

    def search(self, words: str) -> list[Product]:
        """Products whose name contains every word of ``words``, cheapest first."""
        wanted = words.lower().split()
        hits = [p for p in self._by_sku.values() if all(w in p.name.lower() for w in wanted)]
        return sorted(hits, key=lambda product: product.price_cents)


def build_catalog(size: int) -> Catalog:
    """A catalog of ``size`` generated products, spread over the four categories."""
    categories = ("BOOK", "TOY", "FOOD", "MISC")
    products = []
    for number in range(size):
        category = categories[number % len(categories)]
        sku = f"{category}-{number:05d}"
        products.append(Product(sku, f"{category.title()} item {number}", list_price_cents(sku)))
    return Catalog(products)
