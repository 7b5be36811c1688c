"""The model registry: versions, their audit trail, frozen evaluation sets and training runs."""

from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.db import models
from django.db.models import Q

from webapp.stores.models import Store


class ModelKind(models.TextChoices):
    INTENT = "intent", "Intent classifier"
    SENTIMENT = "sentiment", "Sentiment classifier"


class VersionState(models.TextChoices):
    CANDIDATE = "candidate", "Candidate"
    LIVE = "live", "Live"
    RETIRED = "retired", "Retired"


class ModelVersion(models.Model):
    """One trained model of a store: an immutable artefact folder plus how it was made and how
    it scored on the store's frozen evaluation set.

    At most one version per (store, kind) is live; every web and worker process serves that one.
    A candidate was trained but not promoted (``promotion`` says why); a retired version was
    live once and can be promoted again (a rollback).
    """

    store = models.ForeignKey(Store, on_delete=models.CASCADE, related_name="model_versions")
    kind = models.CharField(max_length=20, choices=ModelKind.choices)
    version = models.PositiveIntegerField()
    state = models.CharField(
        max_length=10, choices=VersionState.choices, default=VersionState.CANDIDATE
    )
    directory = models.CharField(max_length=500, help_text="Relative to MODEL_DIR")
    checksum = models.CharField(
        max_length=64, blank=True, help_text="SHA-256 over the artefact's files, checked at load"
    )
    base_model = models.CharField(max_length=200, blank=True)
    training_settings = models.JSONField(default=dict, blank=True)
    data_counts = models.JSONField(
        default=dict, blank=True, help_text="What the training data held, after de-duplication"
    )
    metrics = models.JSONField(default=dict, blank=True)
    evaluation_set = models.ForeignKey(
        "EvaluationSet", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    evaluation_checksum = models.CharField(
        max_length=64, blank=True, help_text="The evaluation set's content when it was judged"
    )
    training_examples = models.PositiveIntegerField(default=0)
    heldout_examples = models.PositiveIntegerField(default=0)
    training_seconds = models.FloatField(default=0)
    promotion = models.JSONField(
        default=dict, blank=True, help_text="The gate's verdict against the live version"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    promoted_at = models.DateTimeField(null=True, blank=True)
    retired_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["store", "kind", "-version"]
        constraints = [
            models.UniqueConstraint(
                fields=["store", "kind", "version"], name="model_version_unique"
            ),
            models.UniqueConstraint(
                fields=["store", "kind"],
                condition=Q(state="live"),
                name="model_version_one_live",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.store.slug} {self.kind} v{self.version}"

    @property
    def is_live(self) -> bool:
        return self.state == VersionState.LIVE

    @property
    def path(self) -> Path:
        return Path(settings.MODEL_DIR) / self.directory

    @property
    def score(self) -> float | None:
        """The gate's metric: macro-F1 on the evaluation set (None if never evaluated)."""
        value = self.promotion.get("candidate")
        return None if value is None else float(value)


class ModelEventAction(models.TextChoices):
    PROMOTED = "promoted", "Promoted"
    ROLLED_BACK = "rolled_back", "Rolled back"
    KEPT_CANDIDATE = "kept_candidate", "Kept as candidate"


class ModelEvent(models.Model):
    """The audit trail of the registry: who made which version live, when, and why."""

    store = models.ForeignKey(Store, on_delete=models.CASCADE, related_name="model_events")
    kind = models.CharField(max_length=20, choices=ModelKind.choices)
    action = models.CharField(max_length=20, choices=ModelEventAction.choices)
    version = models.ForeignKey(ModelVersion, on_delete=models.CASCADE, related_name="events")
    previous = models.ForeignKey(
        ModelVersion,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="The version that was live before",
    )
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="Empty when the training gate decided",
    )
    reason = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["store", "kind", "-id"], name="model_event_store_kind")]

    def __str__(self) -> str:
        return f"{self.version} {self.action}"


class EvaluationPolicy(models.TextChoices):
    FROZEN = "frozen", "Frozen: only grown by hand"
    GROW = "grow", "Grow: each training adds the newly held-out examples"


class EvaluationSet(models.Model):
    """The texts every version of a store's model is judged on, chosen at its first training.

    The items are copies (text and label), so relabelling or deleting the examples they came
    from does not move the goalposts; the set changes only by its policy, and every change is
    recorded in ``EvaluationSetChange``.
    """

    store = models.ForeignKey(Store, on_delete=models.CASCADE, related_name="evaluation_sets")
    kind = models.CharField(max_length=20, choices=ModelKind.choices)
    policy = models.CharField(
        max_length=10, choices=EvaluationPolicy.choices, default=EvaluationPolicy.FROZEN
    )
    checksum = models.CharField(max_length=64, blank=True)
    size = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["store", "kind"], name="evaluation_set_unique")
        ]

    def __str__(self) -> str:
        return f"{self.store.slug} {self.kind} evaluation set ({self.size})"


class EvaluationItem(models.Model):
    evaluation_set = models.ForeignKey(
        EvaluationSet, on_delete=models.CASCADE, related_name="items"
    )
    key = models.CharField(max_length=80, help_text="Identity of the source row (text or review)")
    text = models.TextField()
    label = models.CharField(max_length=64)
    added_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["evaluation_set", "key"], name="evaluation_item_unique")
        ]

    def __str__(self) -> str:
        return f"{self.label}: {self.text[:60]}"


class EvaluationSetChange(models.Model):
    """How an evaluation set came to be what it is: created, grown, or its policy changed."""

    evaluation_set = models.ForeignKey(
        EvaluationSet, on_delete=models.CASCADE, related_name="changes"
    )
    action = models.CharField(max_length=20)
    items_added = models.PositiveIntegerField(default=0)
    size_after = models.PositiveIntegerField(default=0)
    policy = models.CharField(max_length=10, choices=EvaluationPolicy.choices)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    note = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.action} (+{self.items_added})"


class RunState(models.TextChoices):
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    SKIPPED = "skipped", "Skipped"
    FAILED = "failed", "Failed"
    LOST = "lost", "Lost (its worker stopped)"


class RunTrigger(models.TextChoices):
    SCHEDULE = "schedule", "Schedule"
    COMMAND = "command", "Command"
    MERCHANT = "merchant", "Merchant"


class TrainingRun(models.Model):
    """One attempt to train a store's model: what it saw, how long it took, what came of it."""

    store = models.ForeignKey(Store, on_delete=models.CASCADE, related_name="training_runs")
    kind = models.CharField(max_length=20, choices=ModelKind.choices)
    trigger = models.CharField(max_length=10, choices=RunTrigger.choices)
    state = models.CharField(max_length=10, choices=RunState.choices, default=RunState.RUNNING)
    started_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    duration_seconds = models.FloatField(null=True, blank=True)
    fingerprint = models.CharField(
        max_length=64, blank=True, help_text="SHA-256 of the training data; same data, no rerun"
    )
    data_counts = models.JSONField(default=dict, blank=True)
    version = models.ForeignKey(
        ModelVersion, null=True, blank=True, on_delete=models.SET_NULL, related_name="runs"
    )
    promoted = models.BooleanField(null=True)
    reason = models.CharField(max_length=500, blank=True)
    log = models.TextField(blank=True)
    task_id = models.CharField(max_length=100, blank=True)
    host = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["store", "kind", "-id"], name="training_run_store_kind")]

    def __str__(self) -> str:
        return f"{self.store.slug} {self.kind} run {self.id} ({self.state})"


class TrainingLock(models.Model):
    """One training per store and kind: a lease on this row, renewed while training.

    A lease, not a held database lock or a worker-local mutex: if the worker dies mid-training
    its lease simply runs out and the next trigger takes over (marking the run lost), and while
    it lives no second worker, on any machine, can start the same training.
    """

    store = models.ForeignKey(Store, on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=20, choices=ModelKind.choices)
    run = models.ForeignKey(
        TrainingRun, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    expires_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["store", "kind"], name="training_lock_unique")
        ]

    def __str__(self) -> str:
        return f"{self.store_id} {self.kind} lock"
