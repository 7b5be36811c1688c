"""Reads: an order, only for someone who knows both its number and its email address."""

from __future__ import annotations

import hashlib
import hmac

from django.utils import formats

from webapp.orders.models import Order, OrderStatus


def order_for_shopper(*, store_id: int, number: str, email_sha256: str) -> Order | None:
    """The order if ``number`` and the email's fingerprint both match, else None.

    The shopper's email is only ever held as a SHA-256 fingerprint; the comparison is
    constant-time so response timing doesn't tell whether the number exists.
    """
    order = Order.objects.filter(store_id=store_id, number__iexact=number.strip()).first()
    expected = hashlib.sha256(
        (order.email if order else "").strip().casefold().encode()
    ).hexdigest()
    if not hmac.compare_digest(expected, email_sha256) or order is None:
        return None
    return order


def order_item_count(order: Order) -> int:
    return sum(int(item.get("quantity", 1) or 1) for item in order.items)


def order_status_label(order: Order) -> str:
    return str(OrderStatus(order.status).label)


def date_text(value: object) -> str:
    if value is None:
        return ""
    return str(formats.date_format(value, "j F Y"))
