"""A task whose whole worker was SIGKILLed runs again on the next worker, within the broker's
visibility timeout (``CELERY_VISIBILITY_TIMEOUT``; kombu's default of an hour left it waiting).

The drill: a review is locked by this test, so the worker's scoring task blocks mid-task with
its message taken but not acknowledged (``acks_late``). The worker's whole process group is
SIGKILLed (no warm shutdown, no WorkerLostError handling: the message stays unacked in Redis).
The lock is released and a fresh worker starts; the message must come back and the review be
scored.
"""

from __future__ import annotations

import os
import signal
import threading
import time

import pytest
from django.db import connections, transaction

from tests.factories import make_product, make_store
from tests.integration.conftest import start_celery_worker, stop_celery_worker, wait_until
from webapp.reviews.models import Review
from workers.tasks import score_reviews

pytestmark = [pytest.mark.services, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

VISIBILITY_TIMEOUT = 5


@pytest.mark.usefixtures("_isolated_model_dir")
def test_a_task_of_a_killed_worker_is_redelivered_after_the_visibility_timeout(
    request, settings, tmp_path
):
    from workers import app

    app.control.purge()
    store = make_store(slug="acme")
    # bulk_create: no scoring is requested on save, so the only task is the one sent below.
    [review] = Review.objects.bulk_create(
        [
            Review(
                store=store,
                product=make_product(store, "KET-1", "Glass kettle"),
                rating=1,
                title="Broke after a day",
                body="The lid snapped off on the second morning.",
                source="api",
            )
        ]
    )
    environment = {
        "CELERY_VISIBILITY_TIMEOUT": str(VISIBILITY_TIMEOUT),
        "CELERY_RESTORE_SWEEP_SECONDS": "1",
    }
    locked, release = threading.Event(), threading.Event()

    def hold_the_review() -> None:
        try:
            with transaction.atomic():
                Review.objects.select_for_update().get(id=review.id)
                locked.set()
                release.wait(timeout=120)
        finally:
            connections.close_all()

    holder = threading.Thread(target=hold_the_review)
    holder.start()
    first = second = None
    try:
        assert locked.wait(timeout=10)
        first = start_celery_worker(
            request, settings, tmp_path / "first-worker.log", environment=environment
        )
        task_id = score_reviews.delay([review.id]).id
        wait_until(
            lambda: f"[{task_id}] received" in first.log() or None,
            timeout=60,
            what="the first worker to take the task",
        )
        time.sleep(1.0)  # it is now blocked on the lock, inside the task
        os.killpg(first.process.pid, signal.SIGKILL)
        first.process.wait(timeout=10)
        release.set()
        holder.join(timeout=10)
        review.refresh_from_db()
        assert review.scored_at is None, "the task finished before the kill"

        killed_at = time.monotonic()
        second = start_celery_worker(
            request, settings, tmp_path / "second-worker.log", environment=environment
        )
        line = second.wait_for_task(task_id, timeout=VISIBILITY_TIMEOUT + 30)
        waited = time.monotonic() - killed_at
        assert "succeeded" in line
        review.refresh_from_db()
        assert review.scored_at is not None
        assert review.sentiment
        print(f"redelivered and finished {waited:.1f} s after the kill")
    finally:
        release.set()
        holder.join(timeout=10)
        if first is not None:
            stop_celery_worker(first)
        if second is not None:
            stop_celery_worker(second)
        app.control.purge()


def test_the_deployed_visibility_timeout_covers_the_default_queues_time_limits():
    """No running task on the default queue is handed out twice, and none waits an hour."""
    from workers import app, tasks

    timeout = app.conf.broker_transport_options["visibility_timeout"]
    limits = [tasks.rebuild_search_index.time_limit, tasks.score_reviews.time_limit]
    assert max(limits) < timeout <= max(limits) + 120
