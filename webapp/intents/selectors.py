"""Reads: a store's labelled examples as training and held-out sets, and its live model."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser

from webapp.intents.models import ExampleSplit, IntentAnswer, IntentConflict, IntentExample
from webapp.mlops.models import ModelKind
from webapp.mlops.runtime import ArtefactDamaged, live_models
from webapp.mlops.selectors import model_version_live
from webapp.stores.selectors import store_ids_for_user

if TYPE_CHECKING:
    from nlp.intents import IntentClassifier


@dataclass(frozen=True)
class IntentDatasets:
    train_texts: list[str]
    train_labels: list[str]
    heldout_texts: list[str]
    heldout_labels: list[str]
    # "explicit" when the merchant keeps a held-out set, else "hash" (a stable share of the
    # examples, chosen by their text, that never trains).
    heldout_source: str


def intent_datasets(*, store_id: int) -> IntentDatasets:
    """The store's examples split into training and held-out evaluation sets.

    Without explicitly held-out examples, every example whose text hash falls in the lowest
    ``INTENT_HELDOUT_PERCENT`` percent is held out: the split is the same on every run, so a
    candidate and the live model are always compared on the same texts.
    """
    rows = IntentExample.objects.filter(store_id=store_id).order_by("id")
    examples = list(rows.values_list("text", "intent", "split", "text_key"))
    explicit = any(split == ExampleSplit.HELDOUT for _, _, split, _ in examples)
    train: list[tuple[str, str]] = []
    heldout: list[tuple[str, str]] = []
    for text, intent, split, key in examples:
        held = split == ExampleSplit.HELDOUT if explicit else heldout_by_hash(key)
        (heldout if held else train).append((text, intent))
    return IntentDatasets(
        train_texts=[text for text, _ in train],
        train_labels=[intent for _, intent in train],
        heldout_texts=[text for text, _ in heldout],
        heldout_labels=[intent for _, intent in heldout],
        heldout_source="explicit" if explicit else "hash",
    )


def heldout_by_hash(text_key: str) -> bool:
    """Whether an example falls in the stable ``INTENT_HELDOUT_PERCENT`` share held out when
    the store marks none explicitly."""
    return int(text_key[:8], 16) % 100 < settings.INTENT_HELDOUT_PERCENT


def intent_labels(*, store_id: int) -> list[str]:
    return sorted(
        set(IntentExample.objects.filter(store_id=store_id).values_list("intent", flat=True))
    )


def intent_classifier_live(*, store_id: int, wait: bool = True) -> IntentClassifier | None:
    """The store's live intent model, loaded once per process; None before the first training.

    ``wait=False`` (the chat) keeps serving the previously loaded version while a newly
    promoted one loads in the background (``webapp.mlops.runtime``)."""
    version = model_version_live(store_id=store_id, kind=ModelKind.INTENT)
    if version is None:
        return None
    try:
        return live_models.get(version, intent_classifier_load_for_serving, wait=wait)
    except ArtefactDamaged:
        # Logged by the runtime; the bot answers from retrieval, as before a first model.
        return None


def intent_classifier_load_for_serving(path: Path) -> IntentClassifier:
    """A saved model as the live cache serves it: traced (``CHAT_TORCHSCRIPT``) so its forward
    pass runs without the GIL; its predictions are the same."""
    from nlp.intents import IntentClassifier

    classifier = IntentClassifier.load(path)
    return classifier.for_serving() if settings.CHAT_TORCHSCRIPT else classifier


def intent_answer_for(*, store_id: int, intent: str) -> IntentAnswer | None:
    return (
        IntentAnswer.objects.filter(store_id=store_id, intent=intent, is_active=True)
        .select_related("store", "faq__store")
        .first()
    )


def intent_conflicts_open_count(*, user: AbstractBaseUser | AnonymousUser) -> int:
    """Unresolved label conflicts in the user's stores (one COUNT query)."""
    ids = store_ids_for_user(user=user)
    conflicts = IntentConflict.objects.filter(resolved_at__isnull=True)
    if ids is not None:
        conflicts = conflicts.filter(store_id__in=ids)
    return conflicts.count()
