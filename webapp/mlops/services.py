"""Writes for the model registry: registering a trained version, promoting it, rolling back,
and the frozen evaluation sets versions are judged on.

A version is an immutable folder ``MODEL_DIR/stores/<store id>/<kind>/v000001``. The model is
saved into a staging folder first, checksummed, and renamed into place under the store's row
lock, so two trainings of one store can't take the same version number and no process ever
sees a half-written version. Nothing ever writes into a version folder again.
"""

from __future__ import annotations

import hashlib
import shutil
import uuid
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from webapp.mlops.models import (
    EvaluationItem,
    EvaluationPolicy,
    EvaluationSet,
    EvaluationSetChange,
    ModelEvent,
    ModelEventAction,
    ModelVersion,
    VersionState,
)
from webapp.stores.models import Store


class RegistryError(ValueError):
    """A registry request that can't be done; the message is shown to the user."""


# Called (store id, kind) after a commit that changed which version is live; apps register
# what must follow (the reviews app rescores every review with the new sentiment model).
_live_changed_hooks: list[Callable[[int, str], None]] = []


def on_live_version_changed(hook: Callable[[int, str], None]) -> None:
    if hook not in _live_changed_hooks:
        _live_changed_hooks.append(hook)


def artefact_checksum(directory: Path) -> str:
    """SHA-256 over every file's relative path and bytes, in path order (~0.1 s for MiniLM)."""
    digest = hashlib.sha256()
    for path in sorted(p for p in directory.rglob("*") if p.is_file()):
        digest.update(str(path.relative_to(directory)).encode() + b"\0")
        with path.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def _kind_dir(store_id: int, kind: str) -> Path:
    return Path(settings.MODEL_DIR) / "stores" / str(store_id) / kind


def model_version_register(
    *,
    store: Store,
    kind: str,
    save: Callable[[Path], Any],
    metrics: dict[str, Any],
    training_examples: int,
    heldout_examples: int,
    training_seconds: float,
    promotion: dict[str, Any] | None = None,
    base_model: str = "",
    training_settings: dict[str, Any] | None = None,
    data_counts: dict[str, Any] | None = None,
    evaluation_set: EvaluationSet | None = None,
) -> ModelVersion:
    """Save a model with ``save(directory)`` and record it as the store's next version, a
    candidate until promoted."""
    kind_dir = _kind_dir(store.id, kind)
    kind_dir.mkdir(parents=True, exist_ok=True)
    staging = kind_dir / f".staging-{uuid.uuid4().hex}"
    try:
        # Inside the try: a save that fails half-way must not leave its staging folder behind.
        save(staging)
        checksum = artefact_checksum(staging)
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
                checksum=checksum,
                base_model=base_model,
                training_settings=training_settings or {},
                data_counts=data_counts or {},
                metrics=metrics,
                evaluation_set=evaluation_set,
                evaluation_checksum=evaluation_set.checksum if evaluation_set else "",
                training_examples=training_examples,
                heldout_examples=heldout_examples,
                training_seconds=round(training_seconds, 1),
                promotion=promotion or {},
            )
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)


def _person(actor: Any) -> Any:
    """The user to record as having done something; None for the training gate or a command."""
    return actor if getattr(actor, "is_authenticated", False) else None


def _check_servable(version: ModelVersion) -> None:
    """Refuse to make live a version whose folder is gone or whose files changed since it was
    registered: every process would refuse to load it (``webapp.mlops.runtime``)."""
    if not version.path.is_dir():
        raise RegistryError(f"v{version.version}'s artefact folder is missing; it can't go live.")
    if version.checksum and artefact_checksum(version.path) != version.checksum:
        raise RegistryError(f"v{version.version}'s files are damaged (checksum); it can't go live.")


def _make_live(
    version: ModelVersion, *, action: str, actor: Any, reason: str
) -> tuple[ModelVersion, ModelEvent]:
    """Inside a transaction holding the store's row lock: ``version`` becomes the one live
    version of its kind, the previous one retires, and the move is recorded."""
    now = timezone.now()
    previous = (
        ModelVersion.objects.select_for_update()
        .filter(store_id=version.store_id, kind=version.kind, state=VersionState.LIVE)
        .exclude(id=version.id)
        .first()
    )
    if previous is not None:
        previous.state = VersionState.RETIRED
        previous.retired_at = now
        previous.save(update_fields=["state", "retired_at"])
    version.state = VersionState.LIVE
    version.promoted_at = now
    version.save(update_fields=["state", "promoted_at"])
    event = ModelEvent.objects.create(
        store_id=version.store_id,
        kind=version.kind,
        action=action,
        version=version,
        previous=previous,
        actor=_person(actor),
        reason=reason[:300],
    )
    store_id, kind = version.store_id, version.kind
    for hook in list(_live_changed_hooks):
        # robust: a hook that fails (the broker is down) is logged, and the change that has
        # committed is not reported as failed to whoever made it.
        transaction.on_commit(lambda hook=hook: hook(store_id, kind), robust=True)
    return version, event


class LiveChanged(RegistryError):
    """A promotion judged against one live version found another live (a merchant promoted or
    rolled back meanwhile): the gate's verdict no longer applies."""


_ANY = object()


@transaction.atomic
def model_version_promote(
    *, version_id: int, actor: Any = None, reason: str = "", expect_live_id: Any = _ANY
) -> ModelVersion:
    """Make a version live for its store and kind (the live one retires). Promoting the live
    version again changes nothing. With ``expect_live_id`` (an id, or None for "nothing
    live"), raise ``LiveChanged`` unless that is still what is live, checked under the lock."""
    # The store's row first, as register and rollback take it: locking the version first
    # could deadlock against a rollback to this very version (PostgreSQL aborts one of them).
    store_id = ModelVersion.objects.values_list("store_id", flat=True).get(id=version_id)
    Store.objects.select_for_update().get(id=store_id)
    version = ModelVersion.objects.select_for_update().get(id=version_id)
    if version.state == VersionState.LIVE:
        return version
    if expect_live_id is not _ANY:
        live_id = (
            ModelVersion.objects.filter(
                store_id=version.store_id, kind=version.kind, state=VersionState.LIVE
            )
            .values_list("id", flat=True)
            .first()
        )
        if live_id != expect_live_id:
            raise LiveChanged(
                "the live version changed while this one was judged; it stays a candidate"
            )
    _check_servable(version)
    reason = reason or ("promoted by hand" if actor is not None else "passed the gate")
    version, _ = _make_live(version, action=ModelEventAction.PROMOTED, actor=actor, reason=reason)
    return version


@transaction.atomic
def model_version_rollback(
    *, store_id: int, kind: str, actor: Any = None, reason: str = ""
) -> ModelVersion:
    """Put back the version that was live before the current one; returns it."""
    Store.objects.select_for_update().get(id=store_id)
    live = ModelVersion.objects.filter(
        store_id=store_id, kind=kind, state=VersionState.LIVE
    ).first()
    if live is None:
        raise RegistryError("There is no live version to roll back.")
    # The version that was live when the current one was promoted: so v1 -> v2 -> v3 rolls
    # back to v2, then to v1 (a version put back by a rollback keeps its original promotion).
    event = (
        ModelEvent.objects.filter(version=live, action=ModelEventAction.PROMOTED)
        .select_related("previous")
        .first()
    )
    previous = event.previous if event is not None else None
    if previous is None:
        raise RegistryError(f"v{live.version} has no earlier live version to roll back to.")
    _check_servable(previous)
    version, _ = _make_live(
        previous,
        action=ModelEventAction.ROLLED_BACK,
        actor=actor,
        reason=reason or f"rolled back from v{live.version}",
    )
    return version


def model_version_keep_candidate(*, version: ModelVersion, reason: str) -> ModelEvent:
    """Record that the gate refused a version (it stays a candidate, promotable by hand)."""
    return ModelEvent.objects.create(
        store_id=version.store_id,
        kind=version.kind,
        action=ModelEventAction.KEPT_CANDIDATE,
        version=version,
        reason=reason[:300],
    )


# --- Evaluation sets -----------------------------------------------------------------------


def _set_checksum(items: Iterable[tuple[str, str]]) -> str:
    digest = hashlib.sha256()
    for key, label in sorted(items):
        digest.update(f"{key}\x1f{label}\x1e".encode())
    return digest.hexdigest()


def _refresh(evaluation_set: EvaluationSet) -> None:
    pairs = list(evaluation_set.items.values_list("key", "label"))
    evaluation_set.size = len(pairs)
    evaluation_set.checksum = _set_checksum(pairs)
    evaluation_set.save(update_fields=["size", "checksum", "updated_at"])


def _add_items(evaluation_set: EvaluationSet, candidates: Iterable[tuple[str, str, str]]) -> int:
    """Add ``(key, text, label)`` rows the set lacks; returns how many were added."""
    have = set(evaluation_set.items.values_list("key", flat=True))
    new: dict[str, EvaluationItem] = {}
    for key, text, label in candidates:
        if key not in have and key not in new:
            new[key] = EvaluationItem(
                evaluation_set=evaluation_set, key=key, text=text, label=label
            )
    EvaluationItem.objects.bulk_create(new.values())
    return len(new)


@transaction.atomic
def evaluation_set_create(
    *, store: Store, kind: str, items: Iterable[tuple[str, str, str]], note: str = ""
) -> EvaluationSet:
    """Freeze a store's evaluation set for ``kind`` from ``(key, text, label)`` rows."""
    evaluation_set, created = EvaluationSet.objects.select_for_update().get_or_create(
        store=store, kind=kind, defaults={"policy": settings.EVALUATION_SET_POLICY}
    )
    if not created:
        raise RegistryError(f"{store.slug} already has a {kind} evaluation set.")
    added = _add_items(evaluation_set, items)
    _refresh(evaluation_set)
    EvaluationSetChange.objects.create(
        evaluation_set=evaluation_set,
        action="created",
        items_added=added,
        size_after=evaluation_set.size,
        policy=evaluation_set.policy,
        note=note or "chosen at the first training",
    )
    return evaluation_set


@transaction.atomic
def evaluation_set_grow(
    *,
    evaluation_set: EvaluationSet,
    items: Iterable[tuple[str, str, str]],
    actor: Any = None,
    note: str = "",
) -> int:
    """Add the given rows the set lacks, recording the change; returns how many were added."""
    evaluation_set = EvaluationSet.objects.select_for_update().get(id=evaluation_set.id)
    added = _add_items(evaluation_set, items)
    if added:
        _refresh(evaluation_set)
        EvaluationSetChange.objects.create(
            evaluation_set=evaluation_set,
            action="grown",
            items_added=added,
            size_after=evaluation_set.size,
            policy=evaluation_set.policy,
            actor=_person(actor),
            note=note,
        )
    return added


@transaction.atomic
def evaluation_set_policy_set(
    *, evaluation_set: EvaluationSet, policy: str, actor: Any = None
) -> EvaluationSet:
    if policy not in EvaluationPolicy.values:
        raise RegistryError(f"Unknown evaluation policy {policy!r}.")
    evaluation_set = EvaluationSet.objects.select_for_update().get(id=evaluation_set.id)
    if evaluation_set.policy != policy:
        evaluation_set.policy = policy
        evaluation_set.save(update_fields=["policy", "updated_at"])
        EvaluationSetChange.objects.create(
            evaluation_set=evaluation_set,
            action="policy",
            size_after=evaluation_set.size,
            policy=policy,
            actor=_person(actor),
        )
    return evaluation_set
