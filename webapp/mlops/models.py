from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.db import models
from django.db.models import Q

from webapp.stores.models import Store


class ModelKind(models.TextChoices):
    INTENT = "intent", "Intent classifier"
    SENTIMENT = "sentiment", "Sentiment classifier"


class ModelVersion(models.Model):
    """One trained model of a store: an immutable artefact folder plus its held-out metrics.

    At most one version per (store, kind) is live; the bot and the workers load that one.
    """

    store = models.ForeignKey(Store, on_delete=models.CASCADE, related_name="model_versions")
    kind = models.CharField(max_length=20, choices=ModelKind.choices)
    version = models.PositiveIntegerField()
    directory = models.CharField(max_length=500, help_text="Relative to MODEL_DIR")
    metrics = models.JSONField(default=dict, blank=True)
    training_examples = models.PositiveIntegerField(default=0)
    heldout_examples = models.PositiveIntegerField(default=0)
    training_seconds = models.FloatField(default=0)
    is_live = models.BooleanField(default=False)
    promotion = models.JSONField(
        default=dict, blank=True, help_text="How it compared with the live version when trained"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    promoted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["store", "kind", "-version"]
        constraints = [
            models.UniqueConstraint(
                fields=["store", "kind", "version"], name="model_version_unique"
            ),
            models.UniqueConstraint(
                fields=["store", "kind"], condition=Q(is_live=True), name="model_version_one_live"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.store.slug} {self.kind} v{self.version}"

    @property
    def path(self) -> Path:
        return Path(settings.MODEL_DIR) / self.directory
