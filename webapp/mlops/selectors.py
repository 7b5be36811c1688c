"""Reads: a store's model versions and the live one."""

from __future__ import annotations

from django.db.models import QuerySet

from webapp.mlops.models import ModelVersion


def model_version_live(*, store_id: int, kind: str) -> ModelVersion | None:
    """The live version of a store's model of ``kind`` (one indexed query), or None."""
    return ModelVersion.objects.filter(store_id=store_id, kind=kind, is_live=True).first()


def model_versions(*, store_id: int, kind: str) -> QuerySet[ModelVersion]:
    return ModelVersion.objects.filter(store_id=store_id, kind=kind).order_by("-version")
