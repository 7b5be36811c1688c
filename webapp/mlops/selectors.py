"""Reads: a store's model versions, the live one, its evaluation sets and training runs."""

from __future__ import annotations

from django.db.models import QuerySet

from webapp.mlops.models import (
    EvaluationSet,
    ModelEvent,
    ModelVersion,
    RunState,
    TrainingRun,
    VersionState,
)


def model_version_live(*, store_id: int, kind: str) -> ModelVersion | None:
    """The live version of a store's model of ``kind`` (one indexed query), or None."""
    return ModelVersion.objects.filter(
        store_id=store_id, kind=kind, state=VersionState.LIVE
    ).first()


def model_versions(*, store_id: int, kind: str) -> QuerySet[ModelVersion]:
    return ModelVersion.objects.filter(store_id=store_id, kind=kind).order_by("-version")


def model_events(*, store_id: int, kind: str) -> QuerySet[ModelEvent]:
    return ModelEvent.objects.filter(store_id=store_id, kind=kind).select_related(
        "version", "previous", "actor"
    )


def evaluation_set_get(*, store_id: int, kind: str) -> EvaluationSet | None:
    return EvaluationSet.objects.filter(store_id=store_id, kind=kind).first()


def training_runs(*, store_id: int, kind: str) -> QuerySet[TrainingRun]:
    return TrainingRun.objects.filter(store_id=store_id, kind=kind).select_related("version")


def training_run_last_trained(*, store_id: int, kind: str) -> TrainingRun | None:
    """The latest run that got as far as a model (promoted or not): its data is 'seen'."""
    return (
        TrainingRun.objects.filter(store_id=store_id, kind=kind, state=RunState.SUCCEEDED)
        .exclude(fingerprint="")
        .first()
    )
