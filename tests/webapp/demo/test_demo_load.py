"""The demo store's conversational data: intents, held-out set, answers, orders, canned replies."""

from __future__ import annotations

from collections import Counter

import pytest

from webapp.chat.models import CannedReply
from webapp.demo.services import demo_load
from webapp.intents.models import ExampleSplit, IntentAnswer, IntentExample
from webapp.orders.models import Order, OrderStatus

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
