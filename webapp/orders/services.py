"""Writes: orders as the shop system reports them (the demo loads its own)."""

from __future__ import annotations

from typing import Any

from webapp.orders.models import Order
from webapp.stores.models import Store


def order_upsert(*, store: Store, number: str, fields: dict[str, Any]) -> str:
    order = Order.objects.filter(store=store, number=number).first()
    if order is None:
        Order.objects.create(store=store, number=number, **fields)
        return "created"
    changed = [name for name, value in fields.items() if getattr(order, name) != value]
    if not changed:
        return "unchanged"
    for name in changed:
        setattr(order, name, fields[name])
    order.save(update_fields=[*changed, "updated_at"])
    return "updated"
