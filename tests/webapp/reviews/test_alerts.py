"""Alert rules: a product turning negative fires once per window, on the dashboard and by email."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone

from tests.factories import make_product, make_store
from webapp.reviews.alerts import alert_rule_check, alerts_check
from webapp.reviews.models import Alert, AlertRule, Review, Sentiment
from webapp.stores.services import store_user_upsert
from workers.tasks import check_review_alerts

pytestmark = pytest.mark.django_db


def _reviews(store, product, sentiments, days=1, scored=True):
    # ``shop`` pins the clock: the rules' windows (from ``pinned_now``, or from the periodic
    # task's own timezone.now()) and these "days ago" are measured from the same moment.
    now = timezone.now()
    for n, sentiment in enumerate(sentiments):
        Review.objects.create(
            store=store,
            product=product,
            rating=1 if sentiment == Sentiment.NEGATIVE else 5,
            title=f"r{n}",
            source="demo",
            created_at=now - timedelta(days=days, hours=n),
            sentiment=sentiment if scored else "",
            scored_at=now if scored else None,
        )


@pytest.fixture
def shop(pinned_now):
    """Last 7 days: kettle 3 of 4 negative (fires), mug 1 of 4, lamp 3 of 3 but under the
    5-review minimum with 2 unscored ones not counting; older kettle reviews don't count."""
    store = make_store(slug="acme", name="Acme")
    neg, pos = Sentiment.NEGATIVE, Sentiment.POSITIVE
    kettle = make_product(store, "KET-1", "Glass kettle")
    mug = make_product(store, "MUG-2", "Mug")
    lamp = make_product(store, "LMP-3", "Lamp")
    _reviews(store, kettle, [neg, neg, neg, pos, pos])
    _reviews(store, kettle, [pos] * 6, days=30)
    _reviews(store, mug, [neg, pos, pos, pos, pos])
    _reviews(store, lamp, [neg, neg, neg])
    _reviews(store, lamp, [neg, neg], scored=False)
    store_user_upsert(
        store=store,
        username="mia",
        password="pw-1234567",
        role="merchant",
        email="mia@acme.example",
    )
    rule = AlertRule.objects.create(
        store=store, name="Turning sour", window_days=7, min_reviews=5, max_negative_share=0.5
    )
    return store, rule, kettle


def test_rule_fires_for_the_sour_product_once_and_emails_the_merchants(
    shop, pinned_now, django_capture_on_commit_callbacks
):
    _store, rule, kettle = shop
    with django_capture_on_commit_callbacks(execute=True):
        alerts = alert_rule_check(rule=rule, now=pinned_now)
    assert [(a.product, a.reviews, a.negative) for a in alerts] == [(kettle, 5, 3)]
    assert "3 of 5 reviews in the last 7 days are negative (60%" in alerts[0].message
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == ["mia@acme.example"]
    assert "Glass kettle" in mail.outbox[0].body
    assert "http://127.0.0.1:8000/dashboard/acme/" in mail.outbox[0].body
    assert alerts[0].emailed_to == "mia@acme.example"

    # The next check in the same window adds nothing; a later window may fire again.
    assert alert_rule_check(rule=rule, now=pinned_now + timedelta(hours=1)) == []
    assert Alert.objects.count() == 1


def test_product_rule_explicit_recipients_and_inactive_rules(shop, pinned_now):
    store, rule, _kettle = shop
    rule.is_active = False
    rule.save()
    mug_rule = AlertRule.objects.create(
        store=store,
        name="Mug watch",
        product=Review.objects.get(title="r0", product__sku="MUG-2").product,
        window_days=7,
        min_reviews=5,
        max_negative_share=0.1,
        email_to="qa@acme.example, boss@acme.example",
    )
    alerts = alerts_check(now=pinned_now)
    assert [(a.rule, a.product.sku) for a in alerts] == [(mug_rule, "MUG-2")]
    assert alerts[0].emailed_to == "qa@acme.example, boss@acme.example"


@pytest.mark.usefixtures("eager_tasks")
def test_periodic_task_and_dashboard(client, shop):
    store, _rule, _ = shop
    assert check_review_alerts.delay().get() == {"alerts": 1}  # eager (the fixture)
    other = make_store(slug="other")
    user = store_user_upsert(
        store=store, username="mia", password="pw-1234567", role="merchant"
    ).user
    client.force_login(user)
    page = client.get("/dashboard/acme/")
    assert b"Turning sour" in page.content
    assert b'id="alerts"' in page.content
    bo = store_user_upsert(store=other, username="bo", password="pw-1234567", role="merchant")
    client.force_login(bo.user)
    assert b"Turning sour" not in client.get("/dashboard/other/").content
    Alert.objects.update(acknowledged_at=timezone.now())
    client.force_login(user)
    assert b'id="alerts"' not in client.get("/dashboard/acme/").content
