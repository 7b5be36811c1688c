"""Drill: the broker is down while the storefront posts reviews.

A throw-away Redis of the test's own is the broker (the machine's shared services are never
stopped). The web app runs in daphne, a Celery worker with its beat beside it. The broker is
killed, three reviews are posted over HTTP, the broker comes back: every review must have been
answered 201 with JSON, none lost or doubled, all scored by the sweep soon after.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request

import pytest

from tests.factories import make_product, make_store
from tests.integration.conftest import (
    _stop,
    _worker_environment,
    redis_pings,
    start_celery_worker,
    stop_celery_worker,
    throwaway_redis,
    wait_until,
)
from tests.servers import free_port, port_listening, start_daphne
from webapp.reviews.models import Review
from webapp.stores.services import api_key_create

pytestmark = [pytest.mark.services, pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def _post(port: int, key: str, body: dict) -> tuple[int, dict, float]:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/api/stores/acme/reviews/",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {key}"},
        method="POST",
    )
    started = time.perf_counter()
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read()), time.perf_counter() - started
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}"), time.perf_counter() - started


@pytest.mark.usefixtures("_isolated_model_dir")
def test_reviews_posted_while_the_broker_is_down_are_kept_and_scored_after(
    request, settings, tmp_path
):
    store = make_store(slug="acme")
    make_product(store, "KET-1", "Glass kettle")
    key = api_key_create(store=store, name="storefront")[1]
    broker_port, web_port = free_port(), free_port()
    broker = f"redis://127.0.0.1:{broker_port}/0"
    extra = {
        "CELERY_BROKER_URL": broker,
        "REVIEW_SWEEP_SECONDS": "2",
        "REVIEW_SWEEP_GRACE_SECONDS": "1",
    }
    redis_server = throwaway_redis(broker_port, tmp_path / "redis.log")
    web = start_daphne(_worker_environment(settings, extra), tmp_path / "daphne.log", web_port)
    worker = None
    try:
        wait_until(lambda: port_listening(web_port), timeout=60, what="daphne")
        redis_server.terminate()
        redis_server.wait(timeout=10)
        assert not redis_pings(broker_port)

        texts = ["Terrible: it broke after a day.", "Lovely kettle, boils fast.", "Awful lid."]
        answers = [_post(web_port, key, {"sku": "KET-1", "rating": 3, "body": t}) for t in texts]
        assert [status for status, _, _ in answers] == [201, 201, 201], answers
        assert all(body["status"] == "created" for _, body, _ in answers)
        slowest = max(seconds for _, _, seconds in answers)
        assert Review.objects.filter(store=store).count() == 3
        assert not Review.objects.filter(store=store, scored_at__isnull=False).exists()

        redis_server = throwaway_redis(broker_port, tmp_path / "redis.log")
        back = time.monotonic()
        worker = start_celery_worker(
            request, settings, tmp_path / "worker.log", environment=extra, beat=True
        )
        wait_until(
            lambda: Review.objects.filter(store=store, scored_at__isnull=True).count() == 0,
            timeout=90,
            interval=0.5,
            what="the sweep to score every review",
        )
        scored_after = time.monotonic() - back
        assert Review.objects.filter(store=store).count() == 3  # none doubled
        print(
            f"POST while the broker was down: slowest {slowest:.2f} s; all scored "
            f"{scored_after:.1f} s after the broker came back"
        )
    finally:
        if worker is not None:
            stop_celery_worker(worker)
        _stop(web)
        redis_server.terminate()
        redis_server.wait(timeout=10)
