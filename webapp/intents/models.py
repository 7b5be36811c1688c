from __future__ import annotations

import hashlib
import re

from django.conf import settings
from django.core.validators import RegexValidator
from django.db import models

from webapp.catalog.models import FaqEntry
from webapp.stores.models import Store

intent_label_validator = RegexValidator(
    r"^[a-z][a-z0-9_]{0,63}$",
    "Intent labels are lowercase snake_case: letters, digits and underscores, starting with a "
    "letter, at most 64 characters.",
)

_SPACES = re.compile(r"\s+")


def text_key(text: str) -> str:
    """Identity of an utterance for de-duplication: case and spacing don't make a new example."""
    normalised = _SPACES.sub(" ", text).strip().casefold()
    return hashlib.sha256(normalised.encode()).hexdigest()


class ExampleSplit(models.TextChoices):
    TRAIN = "train", "Training"
    HELDOUT = "heldout", "Held-out evaluation"


class ExampleSource(models.TextChoices):
    IMPORT = "import", "Imported"
    DEMO = "demo", "Demo data"
    AGENT = "agent", "Agent correction"
    ADMIN = "admin", "Added in the admin"


class IntentExample(models.Model):
    """A labelled shopper utterance: training data for the store's intent model.

    Held-out examples are kept apart: they never train a model and every candidate model is
    compared with the live one on them.
    """

    store = models.ForeignKey(Store, on_delete=models.CASCADE, related_name="intent_examples")
    text = models.TextField()
    text_key = models.CharField(max_length=64, editable=False)
    intent = models.CharField(max_length=64, validators=[intent_label_validator])
    split = models.CharField(
        max_length=10, choices=ExampleSplit.choices, default=ExampleSplit.TRAIN
    )
    source = models.CharField(
        max_length=10, choices=ExampleSource.choices, default=ExampleSource.ADMIN
    )
    message = models.ForeignKey(
        "chat.Message",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="intent_examples",
        help_text="The chat message an agent corrected, for corrections",
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["intent", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["store", "text_key"], name="intent_example_unique_store_text"
            )
        ]
        indexes = [models.Index(fields=["store", "split"], name="intent_example_store_split")]

    def __str__(self) -> str:
        return f"{self.intent}: {self.text[:60]}"


class IntentAnswer(models.Model):
    """The merchant's answer for an intent the bot answers directly, citing an FAQ entry.

    ``{store}`` in the template becomes the store's name.
    """

    store = models.ForeignKey(Store, on_delete=models.CASCADE, related_name="intent_answers")
    intent = models.CharField(max_length=64, validators=[intent_label_validator])
    template = models.TextField()
    faq = models.ForeignKey(
        FaqEntry,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="The FAQ entry the answer cites as its source",
    )
    is_active = models.BooleanField(default=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["intent"]
        constraints = [
            models.UniqueConstraint(fields=["store", "intent"], name="intent_answer_unique")
        ]

    def __str__(self) -> str:
        return self.intent

    def render(self) -> str:
        return self.template.replace("{store}", self.store.name)


class IntentConflict(models.Model):
    """One shopper text labelled with two or more intents in the store's training data.

    Found when training data is prepared (after casing, spacing, punctuation and PII are
    normalised away); the clashing examples are left out of training until an agent fixes the
    labels, and the next training marks the conflict resolved.
    """

    store = models.ForeignKey(Store, on_delete=models.CASCADE, related_name="intent_conflicts")
    key = models.CharField(max_length=64, help_text="SHA-256 of the normalised text")
    text = models.TextField(help_text="One of the clashing texts (PII-redacted)")
    labels = models.JSONField(default=dict, help_text="intent -> ids of the examples saying so")
    detected_at = models.DateTimeField(auto_now_add=True)
    last_seen_at = models.DateTimeField(auto_now=True)
    resolved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-last_seen_at"]
        constraints = [
            models.UniqueConstraint(fields=["store", "key"], name="intent_conflict_unique")
        ]

    def __str__(self) -> str:
        return f"{' / '.join(sorted(self.labels))}: {self.text[:60]}"
