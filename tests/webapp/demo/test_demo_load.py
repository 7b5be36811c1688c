"""The demo store's conversational data: intents, held-out set, answers, orders, canned replies."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

import pytest
from django.db.models import Avg
from django.utils import timezone

from webapp.catalog.models import Product
from webapp.chat.models import CannedReply
from webapp.demo.services import demo_load
from webapp.intents.models import ExampleSplit, IntentAnswer, IntentExample
from webapp.orders.models import Order, OrderStatus
from webapp.reviews.models import Review

pytestmark = pytest.mark.django_db


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

    # The kettle whose supplier changed ~70 days ago: loved before, panned after.
    kettle = reviews.filter(product__sku="KIT-1001")
    cut = now - timedelta(days=70)
    before = kettle.filter(created_at__lt=cut).aggregate(avg=Avg("rating"))["avg"]
    after = kettle.filter(created_at__gte=cut).aggregate(avg=Avg("rating"))["avg"]
    assert before >= 4.0
    assert after <= 2.5

    # The courier's bad month (95-125 days ago): delivery complaints cluster there.
    def delivery_share(rows):
        texts = [r.text.lower() for r in rows]
        return sum(any(w in t for w in ("courier", "deliver", "arriv")) for t in texts) / len(texts)

    window = reviews.filter(
        created_at__gte=now - timedelta(days=126), created_at__lt=now - timedelta(days=94)
    )
    rest = reviews.exclude(id__in=window.values("id"))
    assert delivery_share(window) > 2 * delivery_share(rest)
