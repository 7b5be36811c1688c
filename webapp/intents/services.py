"""Writes: labelled examples (import, admin, agents' corrections), answers, and training."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction

from webapp.chat.models import Message, Role
from webapp.common.importing import (
    ImportReport,
    Record,
    RowInvalid,
    read_records,
    run_import,
    text_field,
)
from webapp.intents.models import (
    ExampleSource,
    ExampleSplit,
    IntentAnswer,
    IntentExample,
    intent_label_validator,
    text_key,
)
from webapp.intents.selectors import intent_classifier_live, intent_datasets
from webapp.mlops.models import ModelKind, ModelVersion
from webapp.mlops.selectors import model_version_live
from webapp.mlops.services import model_version_promote, model_version_register
from webapp.stores.models import Store

MAX_EXAMPLE_CHARS = 1000
_LABEL_SEPARATORS = re.compile(r"[\s\-]+")


class IntentError(ValueError):
    """A request about intents that can't be done; the message is shown to the user."""


def intent_label_clean(raw: object) -> str:
    """ "Order Status" and "order-status" both become ``order_status``; junk is refused."""
    label = _LABEL_SEPARATORS.sub("_", str(raw or "").strip()).lower()
    if not label:
        raise RowInvalid("intent is required")
    try:
        intent_label_validator(label)
    except ValidationError:
        raise RowInvalid(
            f"intent {label!r} is not a valid label (lowercase letters, digits, underscores)"
        ) from None
    return label


def intent_example_upsert(
    *,
    store: Store,
    text: str,
    intent: str,
    split: str = ExampleSplit.TRAIN,
    source: str = ExampleSource.ADMIN,
    message: Message | None = None,
    created_by: Any = None,
) -> tuple[IntentExample, str]:
    """Create or relabel the example for ``text``; returns it and created/updated/unchanged."""
    key = text_key(text)
    example = IntentExample.objects.filter(store=store, text_key=key).first()
    if example is None:
        example = IntentExample.objects.create(
            store=store,
            text=text,
            text_key=key,
            intent=intent,
            split=split,
            source=source,
            message=message,
            created_by=created_by,
        )
        return example, "created"
    if example.intent == intent and example.split == split:
        return example, "unchanged"
    example.intent = intent
    example.split = split
    example.source = source
    example.message = message or example.message
    example.created_by = created_by or example.created_by
    example.save()
    return example, "updated"


@transaction.atomic
def intent_examples_import(
    *,
    store: Store,
    path: Path,
    column_map: dict[str, str] | None = None,
    fmt: str | None = None,
    split: str = ExampleSplit.TRAIN,
    source: str = ExampleSource.IMPORT,
) -> ImportReport:
    """Import ``text``/``intent`` rows; repeats and one text with two labels are reported.

    The first row for a text wins; a later row with the same text is rejected as a duplicate
    (same label) or a conflict (another label), naming the line it clashes with.
    """
    first_seen: dict[str, tuple[int, str]] = {}

    def apply(record: Record) -> str:
        text = text_field(record.values, "text", required=True, max_length=MAX_EXAMPLE_CHARS)
        intent = intent_label_clean(record.values.get("intent"))
        key = text_key(text)
        if key in first_seen:
            line, label = first_seen[key]
            if label == intent:
                raise RowInvalid(f"duplicate of line {line}")
            raise RowInvalid(f"line {line} labels the same text {label!r}, this row {intent!r}")
        first_seen[key] = (record.line, intent)
        _, outcome = intent_example_upsert(
            store=store, text=text, intent=intent, split=split, source=source
        )
        return outcome

    return run_import(read_records(path, fmt=fmt, column_map=column_map), apply)


@transaction.atomic
def intent_correction_record(*, message_id: int, intent: str, agent: Any) -> IntentExample:
    """An agent's "this message meant X": the message becomes a training example labelled X."""
    message = Message.objects.select_for_update().select_related("store").get(id=message_id)
    if message.role != Role.SHOPPER:
        raise IntentError("Only shoppers' messages can be given an intent.")
    try:
        label = intent_label_clean(intent)
    except RowInvalid as exc:
        raise IntentError(str(exc)) from None
    example, _ = intent_example_upsert(
        store=message.store,
        text=message.text,
        intent=label,
        split=ExampleSplit.TRAIN,
        source=ExampleSource.AGENT,
        message=message,
        created_by=agent,
    )
    message.corrected_intent = label
    message.save(update_fields=["corrected_intent"])
    return example


def intent_answer_upsert(
    *, store: Store, intent: str, template: str, faq_id: int | None = None
) -> str:
    answer = IntentAnswer.objects.filter(store=store, intent=intent).first()
    if answer is None:
        IntentAnswer.objects.create(store=store, intent=intent, template=template, faq_id=faq_id)
        return "created"
    if answer.template == template and answer.faq_id == faq_id:
        return "unchanged"
    answer.template = template
    answer.faq_id = faq_id
    answer.save(update_fields=["template", "faq", "updated_at"])
    return "updated"


@dataclass(frozen=True)
class IntentTrainingResult:
    version: ModelVersion
    metrics: dict[str, Any]
    promoted: bool
    live_metrics: dict[str, Any] | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "version": self.version.version,
            "metrics": self.metrics,
            "promoted": self.promoted,
            "live_metrics": self.live_metrics,
        }


MIN_EXAMPLES_PER_INTENT = 2
# The promotion rule compares held-out macro-F1 of the top label (before the fallback
# threshold, which each model sets for itself and would otherwise blur the comparison).
PROMOTION_METRIC = "without_threshold.macro_f1"


def promotion_score(metrics: dict[str, Any]) -> float:
    return float(metrics["without_threshold"]["macro_f1"])


def intent_model_train(
    *,
    store: Store,
    max_seconds: float | None = None,
    max_epochs: int | None = None,
    progress: Callable[[Any], None] | None = None,
) -> IntentTrainingResult:
    """Train on the store's examples, register the version, and make it live if it is no worse.

    The candidate and the live model are evaluated on the same held-out examples; the
    candidate goes live when its held-out macro-F1 is at least the live model's.
    """
    from nlp.intents import IntentTrainingConfig, train_intent_classifier

    data = intent_datasets(store_id=store.id)
    _check_trainable(data.train_labels, data.heldout_labels)
    overrides: dict[str, Any] = {
        "max_seconds": max_seconds if max_seconds is not None else settings.INTENT_TRAIN_MAX_SECONDS
    }
    if max_epochs is not None:
        overrides["max_epochs"] = max_epochs
    config = IntentTrainingConfig(**overrides)
    started = time.monotonic()
    classifier = train_intent_classifier(data.train_texts, data.train_labels, config, progress)
    seconds = time.monotonic() - started
    metrics = classifier.evaluate(data.heldout_texts, data.heldout_labels)
    metrics["heldout_source"] = data.heldout_source
    if classifier.report is not None:
        metrics["training"] = {
            "stopped_by": classifier.report.stopped_by,
            "epochs_run": classifier.report.epochs_run,
            "best_epoch": classifier.report.best_epoch,
            "validation_macro_f1": classifier.report.validation.get("macro_f1"),
            "temperature": classifier.report.temperature,
            "ece_before": classifier.report.ece_before,
            "ece_after": classifier.report.ece_after,
        }

    live_version = model_version_live(store_id=store.id, kind=ModelKind.INTENT)
    live_metrics = None
    if live_version is not None:
        live = intent_classifier_live(store_id=store.id)
        if live is not None:
            live_metrics = live.evaluate(data.heldout_texts, data.heldout_labels)
    promoted = live_metrics is None or promotion_score(metrics) >= promotion_score(live_metrics)
    version = model_version_register(
        store=store,
        kind=ModelKind.INTENT,
        save=classifier.save,
        metrics=metrics,
        training_examples=len(data.train_texts),
        heldout_examples=len(data.heldout_texts),
        training_seconds=seconds,
        promotion={
            "metric": PROMOTION_METRIC,
            "candidate": promotion_score(metrics),
            "live_version": live_version.version if live_version else None,
            "live": promotion_score(live_metrics) if live_metrics else None,
            "promoted": promoted,
        },
    )
    if promoted:
        version = model_version_promote(version_id=version.id)
    return IntentTrainingResult(version, metrics, promoted, live_metrics)


def _check_trainable(train_labels: list[str], heldout_labels: list[str]) -> None:
    counts: dict[str, int] = {}
    for label in train_labels:
        counts[label] = counts.get(label, 0) + 1
    if len(counts) < 2:
        raise IntentError("Training needs examples of at least two intents.")
    thin = sorted(label for label, count in counts.items() if count < MIN_EXAMPLES_PER_INTENT)
    if thin:
        raise IntentError(
            f"Each intent needs at least {MIN_EXAMPLES_PER_INTENT} training examples; too few "
            f"for: {', '.join(thin)}"
        )
    if not heldout_labels:
        raise IntentError("There are no held-out examples to evaluate the model on.")
