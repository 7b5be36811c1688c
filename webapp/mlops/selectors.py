"""Reads: a store's model versions, the live one, its evaluation sets and training runs, and
the overview the merchant's Models page shows."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db.models import Count, QuerySet

from webapp.mlops.models import (
    EvaluationSet,
    ModelEvent,
    ModelKind,
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


def model_version_of_store(*, store_id: int, version_id: int) -> ModelVersion | None:
    """The version if it belongs to the store; None for another store's id (callers 404)."""
    return ModelVersion.objects.filter(store_id=store_id, id=version_id).first()


# --- The merchant's Models page ----------------------------------------------------------


def _number(metrics: dict[str, Any], *path: str) -> float | None:
    value: Any = metrics
    for key in path:
        value = value.get(key) if isinstance(value, dict) else None
    return float(value) if isinstance(value, int | float) else None


@dataclass(frozen=True)
class VersionScores:
    """A version with the figures the Models page compares; None where never measured."""

    version: ModelVersion
    macro_f1: float | None
    accuracy: float | None
    coverage: float | None


def version_scores(version: ModelVersion) -> VersionScores:
    """Intent metrics keep macro-F1 and accuracy under ``without_threshold`` (the top label,
    before the confidence threshold declines any) and ``coverage`` beside it; sentiment
    metrics keep them at the top level and have no coverage."""
    metrics = version.metrics or {}
    if version.kind == ModelKind.INTENT:
        return VersionScores(
            version,
            _number(metrics, "without_threshold", "macro_f1"),
            _number(metrics, "without_threshold", "accuracy"),
            _number(metrics, "coverage"),
        )
    return VersionScores(version, _number(metrics, "macro_f1"), _number(metrics, "accuracy"), None)


@dataclass(frozen=True)
class ModelRegistryOverview:
    """One kind of a store's models: versions, evaluation set, recent runs and audit trail."""

    kind: str
    label: str
    versions: list[VersionScores]
    live: ModelVersion | None
    evaluation_set: EvaluationSet | None
    evaluation_set_changes: int
    runs: list[TrainingRun]
    events: list[ModelEvent]


def model_registry_overview(
    *, store_id: int, kind: str, runs: int = 10, events: int = 20
) -> ModelRegistryOverview:
    """Everything the Models page shows for one kind, in four queries whatever the number of
    versions, runs or events (the related rows are joined, not fetched per row)."""
    versions = [version_scores(v) for v in model_versions(store_id=store_id, kind=kind)]
    evaluation_set = (
        EvaluationSet.objects.filter(store_id=store_id, kind=kind)
        .annotate(change_count=Count("changes"))
        .first()
    )
    return ModelRegistryOverview(
        kind=kind,
        label=ModelKind(kind).label,
        versions=versions,
        live=next((s.version for s in versions if s.version.is_live), None),
        evaluation_set=evaluation_set,
        evaluation_set_changes=evaluation_set.change_count if evaluation_set else 0,
        runs=list(training_runs(store_id=store_id, kind=kind)[:runs]),
        events=list(model_events(store_id=store_id, kind=kind)[:events]),
    )
