"""Reads for the catalog and the storefront."""

from __future__ import annotations

from collections.abc import Iterable
from itertools import groupby

from webapp.catalog.models import FaqEntry, Product
from webapp.stores.models import Store


def products_by_category(*, store: Store) -> list[tuple[str, list[Product]]]:
    products = (
        Product.objects.filter(store=store).select_related("store").order_by("category", "name")
    )
    return [(category or "Other", list(items)) for category, items in _group(products)]


def faq_by_category(*, store: Store) -> list[tuple[str, list[FaqEntry]]]:
    entries = FaqEntry.objects.filter(store=store).order_by("category", "question")
    return [(category or "General", list(items)) for category, items in _group(entries)]


def product_get(*, store: Store, sku: str) -> Product | None:
    return Product.objects.filter(store=store, sku=sku).select_related("store").first()


def _group(rows: Iterable[Product] | Iterable[FaqEntry]):  # type: ignore[no-untyped-def]
    return groupby(rows, key=lambda row: row.category)
