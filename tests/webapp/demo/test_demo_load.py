"""The demo store's conversational data: intents, held-out set, answers, orders, canned replies."""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.db.models import Avg
from django.utils import timezone

from webapp.catalog.models import Product
from webapp.chat.models import CannedReply
from webapp.demo.services import DATA_DIR, demo_load
from webapp.intents.models import ExampleSplit, IntentAnswer, IntentExample
from webapp.orders.models import Order, OrderStatus
from webapp.reviews.models import Review

pytestmark = pytest.mark.django_db


@pytest.mark.usefixtures("pinned_now")  # both loads on one day, whatever the hour of the run
def test_demo_intents_answers_and_orders_load_cleanly_and_idempotently():
    first = demo_load()
    assert first.intents.rejected == 0, first.intents.errors[:5]
    assert first.intents_heldout.rejected == 0, first.intents_heldout.errors[:5]

    train = Counter(
        IntentExample.objects.filter(split=ExampleSplit.TRAIN).values_list("intent", flat=True)
    )
    heldout = Counter(
        IntentExample.objects.filter(split=ExampleSplit.HELDOUT).values_list("intent", flat=True)
    )
    assert len(train) >= 25
    assert min(train.values()) >= 40
    assert set(heldout) == set(train)
    assert min(heldout.values()) >= 10

    # Every answer template names a real intent, and the ones that cite an FAQ entry find it.
    answers = IntentAnswer.objects.all()
    assert answers.count() >= 20
    assert {answer.intent for answer in answers} <= set(train)
    assert answers.filter(faq__isnull=False).count() >= 15

    assert Order.objects.count() >= 30
    statuses = set(Order.objects.values_list("status", flat=True))
    assert {OrderStatus.SHIPPED, OrderStatus.DELIVERED, OrderStatus.PLACED} <= statuses
    shipped = Order.objects.filter(status=OrderStatus.SHIPPED)
    assert all(order.tracking_number and order.shipped_at for order in shipped)
    assert CannedReply.objects.count() >= 8

    second = demo_load()
    assert second.intents.created == 0
    assert second.intents.updated == 0
    assert second.intents_heldout.created == 0
    assert Order.objects.count() == first.orders
    assert second.reviews.created == 0
    assert second.reviews.updated == 0


def _order_writes() -> dict[str, object]:
    return dict(Order.objects.values_list("number", "updated_at"))


@pytest.mark.parametrize(
    "moment",
    [
        datetime(2026, 12, 2, 0, 30, tzinfo=UTC),
        datetime(2026, 12, 2, 12, 0, tzinfo=UTC),
        datetime(2026, 12, 2, 23, 59, tzinfo=UTC),
    ],
    ids=["00:30", "12:00", "23:59"],
)
def test_demo_reloads_change_nothing_at_any_hour_and_no_review_is_in_the_future(moment):
    """Issue #17: today's reviews were capped at "now", so a reload before their hour moved
    them. The demo's dates may move once a day, at midnight UTC, never between two loads."""
    with time_machine.travel(moment, tick=True):
        first = demo_load()
        orders = _order_writes()
        second = demo_load()
        now = timezone.now()
    # An earlier load that day must write the same dates too: capping at "now" (issue #17)
    # passed the two loads above from 12:00 on, today's reviews being at 9:00 and 12:00.
    with time_machine.travel(moment.replace(hour=0, minute=1), tick=True):
        early = demo_load()

    assert first.reviews.rejected == 0, first.reviews.errors[:5]
    for again in (second, early):
        assert (again.reviews.created, again.reviews.updated) == (0, 0), again.reviews
        assert (again.intents.created, again.intents.updated) == (0, 0)
        assert (again.intents_heldout.created, again.intents_heldout.updated) == (0, 0)
    assert _order_writes() == orders  # order_upsert wrote nothing after the first load
    assert not Review.objects.filter(created_at__gt=now).exists()
    assert not Order.objects.filter(placed_at__gt=now).exists()
    # Today's reviews are still dated today, and the older ones keep their hours of the day.
    today = Review.objects.filter(created_at__date=moment.date())
    assert today.count() == Counter(row["days_ago"] for row in _rows("reviews.jsonl"))[0]
    older = Review.objects.exclude(id__in=today.values("id"))
    assert len({created.hour for created in older.values_list("created_at", flat=True)}) >= 10
    # The chat shows an order's dates, so "shipped 2 days ago" must be that many days by date.
    shipped_ago = {
        order.number: (moment.date() - order.shipped_at.date()).days
        for order in Order.objects.filter(shipped_at__isnull=False)
    }
    expected = {row["number"]: row.get("shipped_days_ago") for row in _rows("orders.jsonl")}
    assert shipped_ago == {number: days for number, days in expected.items() if days is not None}


def _rows(name: str) -> list[dict]:
    with (DATA_DIR / name).open(encoding="utf-8") as lines:
        return [json.loads(line) for line in lines if line.strip()]


@pytest.mark.usefixtures("pinned_now")
def test_demo_reviews_span_six_months_and_tell_their_stories():
    result = demo_load()
    assert result.reviews.rejected == 0, result.reviews.errors[:5]
    reviews = Review.objects.select_related("product")
    assert reviews.count() >= 600
    assert reviews.values("product").distinct().count() == Product.objects.count()
    now = timezone.now()
    oldest = reviews.order_by("created_at").first().created_at
    assert now - oldest >= timedelta(days=170)
    assert reviews.filter(created_at__gt=now).count() == 0

    # The demo dates a review by whole days ago (at its own hour of that day), so the windows
    # below start at midnight: measured from "now", a review on a window's first or last day
    # would fall inside or outside depending on the hour the test runs.
    today = now.replace(hour=0, minute=0, second=0, microsecond=0)

    # The kettle whose supplier changed ~70 days ago: loved before, panned after.
    kettle = reviews.filter(product__sku="KIT-1001")
    cut = today - timedelta(days=70)
    before = kettle.filter(created_at__lt=cut).aggregate(avg=Avg("rating"))["avg"]
    after = kettle.filter(created_at__gte=cut).aggregate(avg=Avg("rating"))["avg"]
    assert before >= 4.0
    assert after <= 2.5

    # The courier's bad month (95-125 days ago): delivery complaints cluster there.
    def delivery_share(rows):
        texts = [r.text.lower() for r in rows]
        return sum(any(w in t for w in ("courier", "deliver", "arriv")) for t in texts) / len(texts)

    window = reviews.filter(
        created_at__gte=today - timedelta(days=125), created_at__lt=today - timedelta(days=94)
    )
    rest = reviews.exclude(id__in=window.values("id"))
    assert delivery_share(window) > 2 * delivery_share(rest)
