"""Reviews through real Celery workers on the real broker and PostgreSQL: a review posted to
the API appears scored on the dashboard, and a worker killed mid-batch loses and duplicates
nothing."""

from __future__ import annotations

import os
import signal
import subprocess
import time

import pytest
from django.db.models import Count

from tests.factories import make_live_sentiment_model, make_product, make_store
from tests.integration.conftest import CeleryWorker, wait_until
from tests.nlp.sentiment_data import REVIEWS
from webapp.reviews.models import Review, ReviewAspect, Sentiment
from webapp.reviews.services import reviews_request_scoring
from webapp.stores.services import api_key_create, store_user_upsert

pytestmark = [pytest.mark.services, pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def test_review_posted_to_the_api_shows_up_scored_on_the_dashboard(
    celery_worker: CeleryWorker, client
) -> None:
    store = make_store(slug="acme")
    make_product(store, "KET-1", "Glass kettle")
    _, key = api_key_create(store=store, name="storefront")
    merchant = store_user_upsert(
        store=store, username="mia", password="pw-1234567", role="merchant"
    )
    client.force_login(merchant.user)

    started = time.monotonic()
    response = client.post(
        "/api/stores/acme/reviews/",
        {
            "sku": "KET-1",
            "rating": 1,
            "title": "Awful",
            "body": "Broke after a day and the courier was rude.",
        },
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {key}",
    )
    assert response.status_code == 201
    review_id = response.json()["id"]
    wait_until(
        lambda: Review.objects.filter(id=review_id, scored_at__isnull=False).exists(),
        timeout=30,
        interval=0.2,
        what="the worker to score the review",
    )
    seconds = time.monotonic() - started
    page = client.get("/dashboard/acme/?period=7")
    headline = page.context["headline"]["current"]
    assert (headline["reviews"], headline["scored"], headline["negative"]) == (1, 1, 1)
    assert b"after a day and the" in page.content  # "Broke" and "courier" are marked up
    assert Review.objects.get(id=review_id).sentiment == Sentiment.NEGATIVE
    print(f"posted to scored and on the dashboard: {seconds:.2f} s")


def _pool_children(pid: int) -> list[int]:
    found = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True)
    return [int(line) for line in found.stdout.split()]


def test_killing_a_worker_mid_batch_loses_and_duplicates_nothing(
    celery_worker: CeleryWorker,
) -> None:
    store = make_store(slug="acme")
    kettle = make_product(store, "KET-1", "Glass kettle")
    # The store's own model makes each batch take a forward pass, so there is a batch to
    # interrupt; VADER finishes 64 reviews in ~80 ms.
    make_live_sentiment_model(store)
    rows = [
        Review(
            store=store,
            product=kettle,
            rating=rating,
            title=f"Review {n}",
            body=f"{text} The delivery took {n % 9 + 1} days and the box was fine.",
            source="import",
        )
        for n, (text, rating) in enumerate(REVIEWS * 40)
    ]
    ids = [review.id for review in Review.objects.bulk_create(rows)]
    reviews_request_scoring(review_ids=ids)  # 640 reviews: 10 tasks of 64
    total = len(ids)

    def scored() -> int:
        return Review.objects.filter(store=store, scored_at__isnull=False).count()

    wait_until(lambda: scored() >= 64, timeout=120, interval=0.05, what="the first batch")
    assert scored() < total, "the worker finished before it could be killed; make batches slower"
    children = _pool_children(celery_worker.process.pid)
    assert children, "no prefork child to kill"
    for child in children:
        os.kill(child, signal.SIGKILL)

    wait_until(lambda: scored() == total, timeout=180, interval=0.5, what="every review scored")
    assert celery_worker.alive()
    assert "WorkerLostError" in celery_worker.log(), "the kill did not interrupt a task"
    # Nothing lost: every review carries one label, a score and the model that scored it.
    assert Review.objects.filter(store=store, sentiment="").count() == 0
    assert set(Review.objects.filter(store=store).values_list("scored_by", flat=True)) == {
        "sentiment v1"
    }
    # Nothing doubled: one rollup row per (review, aspect), as many as the reviews' aspects.
    expected = sum(
        len(a) for a in Review.objects.filter(store=store).values_list("aspects", flat=True)
    )
    assert ReviewAspect.objects.filter(store=store).count() == expected
    assert not (
        ReviewAspect.objects.values("review_id", "aspect").annotate(n=Count("id")).filter(n__gt=1)
    )
