"""Celery tasks. Each takes plain ids, re-reads its rows and is safe to run twice."""

from __future__ import annotations

import logging
import os

from celery import shared_task
from django.conf import settings as django_settings
from django.db import OperationalError

logger = logging.getLogger(__name__)


@shared_task(
    bind=True,
    acks_late=True,
    autoretry_for=(OperationalError, ConnectionError),
    retry_backoff=5,
    retry_backoff_max=120,
    retry_jitter=True,
    max_retries=5,
    soft_time_limit=600,
    time_limit=660,
)
def rebuild_search_index(self, store_id: int) -> dict[str, object]:  # type: ignore[no-untyped-def]
    """Rebuild a store's search index if its FAQ/products changed since the live version.

    Idempotent: a second run over unchanged content returns the live version without building.
    The demo store (~230 documents, ~450 chunks) takes ~3 s on 2 CPU cores.
    """
    from webapp.kb.services import search_index_build
    from webapp.stores.models import Store

    if not Store.objects.filter(id=store_id).exists():
        logger.warning("rebuild_search_index: store %s no longer exists", store_id)
        return {"store_id": store_id, "built": False, "version": None}
    result = search_index_build(store_id=store_id)
    return {"store_id": store_id, "built": result.built, "version": result.index.version}


@shared_task(
    bind=True,
    acks_late=True,
    reject_on_worker_lost=True,
    autoretry_for=(OperationalError, ConnectionError),
    retry_backoff=2,
    retry_backoff_max=60,
    retry_jitter=True,
    max_retries=5,
    soft_time_limit=120,
    time_limit=150,
)
def score_reviews(self, review_ids: list[int], force: bool = False) -> dict[str, int]:  # type: ignore[no-untyped-def]
    """Score a batch of reviews (``SCORE_BATCH`` ids) with their store's sentiment scorer.

    Idempotent: reviews already scored by the live scorer are skipped, so a batch redelivered
    after a worker died (``acks_late``) finishes the rest and counts nothing twice.
    """
    from webapp.reviews.services import reviews_score

    result = reviews_score(review_ids=list(review_ids), force=force)
    return {"scored": result.scored, "skipped": result.skipped}


@shared_task(
    acks_late=True,
    autoretry_for=(OperationalError, ConnectionError),
    retry_backoff=5,
    max_retries=3,
    soft_time_limit=120,
    time_limit=150,
)
def check_review_alerts() -> dict[str, int]:
    """Periodic (beat, every 15 minutes): check every store's alert rules. Safe to overlap or
    repeat: a rule fires at most once per product and window."""
    from webapp.reviews.alerts import alerts_check

    return {"alerts": len(alerts_check())}


@shared_task(acks_late=True, soft_time_limit=120, time_limit=150)
def sweep_unscored_reviews() -> dict[str, int]:
    """Periodic (beat, every REVIEW_SWEEP_SECONDS): queue scoring for reviews whose task was
    lost, e.g. saved while the broker was down. Safe to overlap: scoring is idempotent."""
    from webapp.reviews.services import reviews_sweep_unscored

    return {"queued": reviews_sweep_unscored()}


@shared_task(acks_late=True, soft_time_limit=600, time_limit=660)
def purge_expired_conversations() -> dict[str, int]:
    """Periodic (beat, hourly): delete conversations past their store's retention, in short
    batches. Safe to overlap or repeat."""
    from webapp.chat.services import conversations_purge_expired

    return {"deleted": conversations_purge_expired()}


_priority_lowered = False


def _yield_cpu_to_chat() -> None:
    """Lower this worker process's CPU priority once (``TRAINING_NICE``): on a shared machine
    the scheduler then runs chat replies first and training fills the idle time. Never done
    in-process (eager tasks run in the web process)."""
    global _priority_lowered
    from django.conf import settings

    if not _priority_lowered and settings.TRAINING_NICE:
        os.nice(settings.TRAINING_NICE)
    _priority_lowered = True


@shared_task(
    bind=True,
    acks_late=True,
    # A training that kills its worker (out of memory, say) is not redelivered in a loop: the
    # run's lease runs out and the next scheduled trigger marks it lost and trains again.
    reject_on_worker_lost=False,
    autoretry_for=(OperationalError, ConnectionError),
    retry_backoff=30,
    retry_backoff_max=300,
    max_retries=3,
    soft_time_limit=django_settings.TRAINING_TIME_LIMIT_SECONDS,
    time_limit=django_settings.TRAINING_TIME_LIMIT_SECONDS + 120,
)
def retrain_model(  # type: ignore[no-untyped-def]
    self, store_id: int, kind: str, trigger: str = "schedule", force: bool = False
) -> dict[str, object]:
    """Re-fine-tune one store's model of ``kind`` on the ``training`` queue (beat runs it per
    store on the schedules in the admin). Safe to trigger twice: one run holds the training
    lease, the other is recorded as skipped; unchanged data is skipped too."""
    from webapp.mlops.training import TrainingDataError, model_train
    from webapp.stores.models import Store

    if not Store.objects.filter(id=store_id).exists():
        logger.warning("retrain_model: store %s no longer exists", store_id)
        return {"store_id": store_id, "state": "skipped", "reason": "no such store"}
    eager = bool(self.request.is_eager)
    if not eager:
        _yield_cpu_to_chat()
    try:
        outcome = model_train(
            store_id=store_id,
            kind=kind,
            trigger=trigger,
            num_threads=0 if eager else django_settings.TRAINING_WORKER_THREADS,
            force=force,
            task_id=self.request.id or "",
        )
    except TrainingDataError as exc:
        return {"store_id": store_id, "state": "skipped", "reason": str(exc)}
    return {
        "store_id": store_id,
        "run": outcome.run.id,
        "state": outcome.run.state,
        "version": outcome.version.version if outcome.version else None,
        "promoted": outcome.promoted,
        "reason": outcome.run.reason,
    }
