"""Writes for products and FAQ entries, including merchant imports."""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from django.db import transaction

from webapp.catalog.models import FaqEntry, Product
from webapp.common.importing import (
    ImportReport,
    Record,
    RowInvalid,
    read_records,
    run_import,
    text_field,
)
from webapp.kb.services import search_index_request_rebuild
from webapp.stores.models import Store

PRODUCT_COLUMNS = ("sku", "name", "description", "price", "currency", "category", "stock", "url")
FAQ_COLUMNS = ("question", "answer", "category", "intent")
_INTENT_LABEL = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
_CURRENCY = re.compile(r"^[A-Z]{3}$")
_MAX_PRICE = Decimal("9999999999.99")


def _clean_price(raw: Any) -> Decimal:
    text = str(raw).strip() if raw is not None else ""
    if not text:
        raise RowInvalid("price is required")
    if "," in text and "." not in text:
        text = text.replace(",", ".")  # European exports write 12,50
    try:
        price = Decimal(text).quantize(Decimal("0.01"))
    except InvalidOperation:
        raise RowInvalid(f"price {raw!r} is not a number") from None
    if price < 0 or price > _MAX_PRICE:
        raise RowInvalid(f"price {raw!r} is out of range")
    return price


def _clean_stock(raw: Any) -> int:
    if raw is None or str(raw).strip() == "":
        return 0
    try:
        stock = int(str(raw).strip())
    except ValueError:
        raise RowInvalid(f"stock {raw!r} is not a whole number") from None
    if stock < 0:
        raise RowInvalid("stock must not be negative")
    return stock


def _clean_url(raw: Any) -> str:
    url = str(raw).strip() if raw is not None else ""
    if url and not (url.startswith(("https://", "http://", "/"))):
        raise RowInvalid(f"url {url!r} must start with https://, http:// or /")
    if len(url) > 500:
        raise RowInvalid("url is longer than 500 characters")
    return url


def _clean_attributes(values: dict[str, Any]) -> dict[str, Any]:
    attributes: dict[str, Any] = {}
    nested = values.get("attributes")
    if isinstance(nested, dict):
        attributes.update(nested)
    elif nested not in (None, ""):
        raise RowInvalid("attributes must be an object")
    for key, value in values.items():
        if key in PRODUCT_COLUMNS or key == "attributes" or value is None or value == "":
            continue
        attributes[key] = value.strip() if isinstance(value, str) else value
    return attributes


def product_values_clean(*, store: Store, values: dict[str, Any]) -> dict[str, Any]:
    """Validate one import record into Product field values; raises RowInvalid."""
    currency = text_field(values, "currency", required=False, max_length=20).upper()
    currency = currency or store.currency
    if not _CURRENCY.match(currency):
        raise RowInvalid(f"currency {currency!r} is not a 3-letter code")
    return {
        "sku": text_field(values, "sku", required=True, max_length=64),
        "name": text_field(values, "name", required=True, max_length=300),
        "description": text_field(values, "description", required=False, max_length=20_000),
        "price": _clean_price(values.get("price")),
        "currency": currency,
        "category": text_field(values, "category", required=False, max_length=120),
        "stock": _clean_stock(values.get("stock")),
        "url": _clean_url(values.get("url")),
        "attributes": _clean_attributes(values),
    }


@transaction.atomic
def _upsert(model: type, *, store: Store, key: dict[str, Any], fields: dict[str, Any]) -> str:
    existing = model.objects.select_for_update().filter(store=store, **key).first()
    if existing is None:
        model.objects.create(store=store, **key, **fields)
        return "created"
    changed = [name for name, value in fields.items() if getattr(existing, name) != value]
    if not changed:
        return "unchanged"
    for name in changed:
        setattr(existing, name, fields[name])
    existing.save(update_fields=[*changed, "updated_at"])
    return "updated"


def product_upsert(*, store: Store, values: dict[str, Any]) -> str:
    """Create or update a product by sku; returns created / updated / unchanged.

    The caller requests the index rebuild once for a whole batch of upserts.
    """
    cleaned = product_values_clean(store=store, values=values)
    sku = cleaned.pop("sku")
    return _upsert(Product, store=store, key={"sku": sku}, fields=cleaned)


def faq_values_clean(*, values: dict[str, Any]) -> dict[str, Any]:
    question = " ".join(text_field(values, "question", required=True, max_length=500).split())
    intent = text_field(values, "intent", required=False, max_length=64)
    if intent and not _INTENT_LABEL.match(intent):
        raise RowInvalid(f"intent {intent!r} must be a snake_case label like delivery_time")
    return {
        "question": question,
        "answer": text_field(values, "answer", required=True, max_length=10_000),
        "category": text_field(values, "category", required=False, max_length=120),
        "intent": intent,
    }


def faq_upsert(*, store: Store, values: dict[str, Any]) -> str:
    """Create or update an FAQ entry by question; returns created / updated / unchanged.

    The caller requests the index rebuild once for a whole batch of upserts.
    """
    cleaned = faq_values_clean(values=values)
    question = cleaned.pop("question")
    return _upsert(FaqEntry, store=store, key={"question": question}, fields=cleaned)


@transaction.atomic
def products_import(
    *, store: Store, path: Path, column_map: dict[str, str] | None = None, fmt: str | None = None
) -> ImportReport:
    """Import a CSV/JSONL product export; bad rows are reported, good rows kept."""
    records = read_records(path, fmt=fmt, column_map=column_map)
    return _finish(store, run_import(records, lambda r: _apply(product_upsert, store, r)))


@transaction.atomic
def faq_import(
    *, store: Store, path: Path, column_map: dict[str, str] | None = None, fmt: str | None = None
) -> ImportReport:
    """Import a CSV/JSONL FAQ export; bad rows are reported, good rows kept."""
    records = read_records(path, fmt=fmt, column_map=column_map)
    return _finish(store, run_import(records, lambda r: _apply(faq_upsert, store, r)))


def _apply(upsert: Any, store: Store, record: Record) -> str:
    return upsert(store=store, values=record.values)


def _finish(store: Store, report: ImportReport) -> ImportReport:
    if report.created or report.updated:
        search_index_request_rebuild(store_id=store.id)
    return report
