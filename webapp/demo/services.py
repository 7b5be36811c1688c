"""The demo store: Driftwood Market, its people, catalog and FAQ (all written by us)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from webapp.catalog.models import FaqEntry
from webapp.catalog.services import faq_import, products_import
from webapp.chat.models import CannedReply
from webapp.common.importing import ImportReport, Record
from webapp.intents.models import ExampleSource, ExampleSplit, IntentAnswer
from webapp.intents.services import intent_answer_upsert, intent_examples_import
from webapp.orders.services import order_upsert
from webapp.reviews.models import AlertRule, ReviewSource
from webapp.reviews.services import reviews_import_records
from webapp.stores.models import Role, Store
from webapp.stores.services import store_get_or_create, store_user_upsert

DATA_DIR = Path(__file__).resolve().parent / "data"
DEMO_SLUG = "demo"
DEMO_NAME = "Driftwood Market"

# Demo-only credentials, printed by the demo command; never used outside the embedded demo.
DEMO_LOGINS = (
    ("admin", "admin-demo", "superuser"),
    ("merchant", "merchant-demo", Role.MERCHANT),
    ("agent", "agent-demo", Role.AGENT),
)


@dataclass(frozen=True)
class DemoLoadResult:
    store_created: bool
    products: ImportReport
    faq: ImportReport
    intents: ImportReport
    intents_heldout: ImportReport
    answers: int
    orders: int
    canned_replies: int
    reviews: ImportReport
    alert_rules: int


@transaction.atomic
def demo_load() -> DemoLoadResult:
    """Create or refresh the demo store; safe to run any number of times."""
    store, created = store_get_or_create(slug=DEMO_SLUG, name=DEMO_NAME, currency="EUR")
    user_model = get_user_model()
    for username, password, role in DEMO_LOGINS:
        if role == "superuser":
            user = user_model.objects.filter(username=username).first()
            if user is None:
                user_model.objects.create_superuser(
                    username, f"{username}@driftwood.example", password
                )
            continue
        store_user_upsert(
            store=store,
            username=username,
            password=password,
            role=role,
            email=f"{username}@driftwood.example",
        )
    products = products_import(store=store, path=DATA_DIR / "products.jsonl")
    faq = faq_import(store=store, path=DATA_DIR / "faq.jsonl")
    intents = intent_examples_import(
        store=store, path=DATA_DIR / "intents.jsonl", source=ExampleSource.DEMO
    )
    heldout = intent_examples_import(
        store=store,
        path=DATA_DIR / "intents_heldout.jsonl",
        split=ExampleSplit.HELDOUT,
        source=ExampleSource.DEMO,
    )
    return DemoLoadResult(
        store_created=created,
        products=products,
        faq=faq,
        intents=intents,
        intents_heldout=heldout,
        answers=_load_answers(store),
        orders=_load_orders(store),
        canned_replies=_load_canned_replies(store),
        reviews=_load_reviews(store),
        alert_rules=_load_alert_rules(store),
    )


def _records(name: str) -> list[dict[str, Any]]:
    with (DATA_DIR / name).open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def _load_answers(store: Store) -> int:
    faq_ids = dict(FaqEntry.objects.filter(store=store).values_list("question", "id"))
    for row in _records("intent_answers.jsonl"):
        intent_answer_upsert(
            store=store,
            intent=row["intent"],
            template=row["template"],
            faq_id=faq_ids.get(row.get("faq_question") or ""),
        )
    return IntentAnswer.objects.filter(store=store).count()


def _load_orders(store: Store) -> int:
    """Demo orders dated relative to today, so "shipped 2 days ago" stays true in the demo."""
    # Anchored to midnight UTC, not to the hour: every load on the same day writes the same
    # dates (order_upsert changes nothing), and the chat only ever shows an order's dates.
    today = _start_of_today()

    def ago(days: int | None) -> Any:
        return None if days is None else today - timedelta(days=days)

    rows = _records("orders.jsonl")
    for row in rows:
        eta = row.get("estimated_delivery_in_days")
        order_upsert(
            store=store,
            number=row["number"],
            fields={
                "email": row["email"],
                "customer_name": row.get("customer_name", ""),
                "status": row["status"],
                "items": [
                    {**item, "price": str(Decimal(str(item["price"])))} for item in row["items"]
                ],
                "carrier": row.get("carrier", ""),
                "tracking_number": row.get("tracking_number", ""),
                "tracking_url": _tracking_url(row),
                "placed_at": ago(row["placed_days_ago"]),
                "shipped_at": ago(row.get("shipped_days_ago")),
                "delivered_at": ago(row.get("delivered_days_ago")),
                "estimated_delivery": None if eta is None else (today + timedelta(days=eta)).date(),
            },
        )
    return len(rows)


def _tracking_url(row: dict[str, Any]) -> str:
    if not row.get("tracking_number"):
        return ""
    # A page of our own storefront stands in for the carrier's tracking site in the demo.
    return (
        f"https://tracking.example/{row.get('carrier', 'parcel').lower()}/{row['tracking_number']}"
    )


def _load_canned_replies(store: Store) -> int:
    rows = _records("canned_replies.jsonl")
    for row in rows:
        CannedReply.objects.update_or_create(
            store=store, title=row["title"], defaults={"text": row["text"]}
        )
    return len(rows)


def _load_reviews(store: Store) -> ImportReport:
    """Demo reviews dated relative to today (``days_ago``), at a fixed hour per review, so the
    dashboard's last weeks always have data and a reload on the same day changes nothing."""
    today = _start_of_today()
    records = []
    for line, row in enumerate(_records("reviews.jsonl"), start=1):
        hour = int(hashlib.sha256(row["external_id"].encode()).hexdigest(), 16) % 14 + 8
        created = today - timedelta(days=row["days_ago"]) + timedelta(hours=hour)
        # Today's reviews sit at midnight rather than at their hour: capping at "now" instead
        # moved them on every load before that hour (a reload "updated" them), and any later
        # time would be in the future for part of the day.
        values = {**row, "created_at": min(created, today).isoformat()}
        records.append(Record(line, values))
    return reviews_import_records(store=store, records=records, source=ReviewSource.DEMO)


def _start_of_today() -> datetime:
    """Midnight UTC today: the demo's dates move once a day, never between two loads of a day."""
    return timezone.now().replace(hour=0, minute=0, second=0, microsecond=0)


def _load_alert_rules(store: Store) -> int:
    """One rule the demo's kettle story trips: over a third negative in 14 days, 3+ reviews."""
    AlertRule.objects.get_or_create(
        store=store,
        name="Product turning negative",
        defaults={"window_days": 14, "min_reviews": 3, "max_negative_share": 0.34},
    )
    return AlertRule.objects.filter(store=store).count()
