"""Writes: registering a trained model as a new version, and making a version live.

A version is an immutable folder ``MODEL_DIR/stores/<store id>/<kind>/v000001``. The model is
saved into a staging folder first and renamed into place under the store's row lock, so two
trainings of one store can't take the same version number and no process ever sees a
half-written version.
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from webapp.mlops.models import ModelVersion
from webapp.stores.models import Store


def _kind_dir(store_id: int, kind: str) -> Path:
    return Path(settings.MODEL_DIR) / "stores" / str(store_id) / kind


def model_version_register(
    *,
    store: Store,
    kind: str,
    save: Callable[[Path], None],
    metrics: dict[str, Any],
    training_examples: int,
    heldout_examples: int,
    training_seconds: float,
    promotion: dict[str, Any] | None = None,
) -> ModelVersion:
    """Save a model with ``save(directory)`` and record it as the store's next version."""
    kind_dir = _kind_dir(store.id, kind)
    kind_dir.mkdir(parents=True, exist_ok=True)
    staging = kind_dir / f".staging-{uuid.uuid4().hex}"
    save(staging)
    try:
        with transaction.atomic():
            Store.objects.select_for_update().get(id=store.id)
            last = ModelVersion.objects.filter(store=store, kind=kind).order_by("-version").first()
            number = (last.version if last else 0) + 1
            final = kind_dir / f"v{number:06d}"
            if final.exists():
                # Left by a run whose database write rolled back; nothing refers to it.
                shutil.rmtree(final)
            staging.rename(final)
            return ModelVersion.objects.create(
                store=store,
                kind=kind,
                version=number,
                directory=str(final.relative_to(settings.MODEL_DIR)),
                metrics=metrics,
                training_examples=training_examples,
                heldout_examples=heldout_examples,
                training_seconds=round(training_seconds, 1),
                promotion=promotion or {},
            )
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)


@transaction.atomic
def model_version_promote(*, version_id: int) -> ModelVersion:
    """Make one version live for its store and kind (the previous live one steps down)."""
    version = ModelVersion.objects.select_for_update().get(id=version_id)
    ModelVersion.objects.select_for_update().filter(
        store_id=version.store_id, kind=version.kind, is_live=True
    ).exclude(id=version.id).update(is_live=False)
    if not version.is_live:
        version.is_live = True
        version.promoted_at = timezone.now()
        version.save(update_fields=["is_live", "promoted_at"])
    return version
