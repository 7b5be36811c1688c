"""Reviews saved while the broker is down are kept, answered 201, and scored by the sweep."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.utils import timezone
from kombu.exceptions import OperationalError

from tests.factories import make_product, make_store
from webapp.reviews.models import Review
from webapp.reviews.services import reviews_request_scoring, reviews_sweep_unscored
from webapp.stores.services import api_key_create
from workers.tasks import score_reviews

pytestmark = pytest.mark.django_db


@pytest.fixture
def broker_down(monkeypatch):
    """A real (not eager) Celery app whose broker refuses every publish."""
    attempts: list[list[int]] = []

    def refuse(*args, **kwargs):
        attempts.append(kwargs["args"][0])
        raise OperationalError("Error 111 connecting to 127.0.0.1:6399. Connection refused.")

    conf = score_reviews.app.conf
    saved = conf.task_always_eager
    conf.task_always_eager = False
    monkeypatch.setattr(score_reviews, "apply_async", refuse)
    yield attempts
    conf.task_always_eager = saved


@pytest.fixture
def shop():
    store = make_store(slug="acme")
    product = make_product(store, "KET-1", "Glass kettle")
    return store, product, api_key_create(store=store, name="storefront")[1]


def test_a_review_posted_while_the_broker_is_down_gets_201_json_and_is_kept(
    client, shop, broker_down, django_capture_on_commit_callbacks, caplog
):
    _, _, key = shop
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            "/api/stores/acme/reviews/",
            data=json.dumps({"sku": "KET-1", "rating": 1, "body": "Broke after a day."}),
            content_type="application/json",
            HTTP_AUTHORIZATION=f"Bearer {key}",
        )
    assert response.status_code == 201
    assert response.json()["status"] == "created"
    review = Review.objects.get(id=response.json()["id"])
    assert review.scored_at is None
    assert broker_down == [[review.id]]
    assert "left to the sweep" in caplog.text


def test_the_sweep_queues_old_unscored_reviews_and_leaves_fresh_ones(
    shop, settings, eager_tasks, django_capture_on_commit_callbacks
):
    store, product, _ = shop
    settings.REVIEW_SWEEP_GRACE_SECONDS = 60
    old, fresh = (
        Review.objects.create(store=store, product=product, rating=1, body=text, source="api")
        for text in ("Terrible, it broke after a day. Awful.", "Lovely kettle.")
    )
    Review.objects.filter(id=old.id).update(updated_at=timezone.now() - timedelta(minutes=5))
    with django_capture_on_commit_callbacks(execute=True):
        assert reviews_sweep_unscored() == 1
    old.refresh_from_db()
    fresh.refresh_from_db()
    assert old.scored_at is not None
    assert old.sentiment == "negative"
    assert fresh.scored_at is None
    # Nothing left to do, nothing queued twice.
    with django_capture_on_commit_callbacks(execute=True):
        assert reviews_sweep_unscored() == 0


def test_a_refused_publish_does_not_fail_the_transaction_that_saved_the_reviews(
    shop, broker_down, django_capture_on_commit_callbacks
):
    store, product, _ = shop
    review = Review.objects.create(
        store=store, product=product, rating=4, body="Fine.", source="api"
    )
    with django_capture_on_commit_callbacks(execute=True):
        reviews_request_scoring(review_ids=[review.id])
    assert Review.objects.filter(id=review.id).exists()
