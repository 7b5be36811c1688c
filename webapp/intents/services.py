"""Writes: labelled examples (import, admin, agents' corrections), answers, and training."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

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
