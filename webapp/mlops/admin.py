"""The registry in the admin: versions side by side with their metrics, promote and roll back
(one action each, audited), the audit trail, training runs and evaluation sets."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from webapp.mlops.models import (
    EvaluationSet,
    EvaluationSetChange,
    ModelEvent,
    ModelVersion,
    TrainingRun,
)
from webapp.mlops.services import RegistryError, model_version_promote, model_version_rollback
from webapp.stores.admin_scoping import StoreScopedAdmin


class ReadOnlyAdmin(StoreScopedAdmin):
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return [field.name for field in self.model._meta.fields]


def _metric(version: ModelVersion, *path: str) -> object:
    value: Any = version.metrics
    for key in path:
        value = (value or {}).get(key)
    return round(value, 3) if isinstance(value, float) else value


@admin.register(ModelVersion)
class ModelVersionAdmin(ReadOnlyAdmin):
    list_display = [
        "store",
        "kind",
        "version",
        "state",
        "macro_f1",
        "accuracy",
        "coverage",
        "gate",
        "evaluated_on",
        "training_examples",
        "training_seconds",
        "created_at",
        "promoted_at",
    ]
    list_filter = [("store", admin.RelatedOnlyFieldListFilter), "kind", "state"]
    list_select_related = ["store"]
    actions = ["promote", "roll_back"]

    # The "change" permission means promote / roll back, in the stores where the user is a
    # merchant; every field stays read-only and saving the form changes nothing.

    def save_model(self, request, obj, form, change):  # type: ignore[no-untyped-def]
        """Nothing to save: a version changes only through promote and roll back."""

    @admin.display(description="macro-F1")
    def macro_f1(self, version: ModelVersion) -> object:
        return _metric(version, "without_threshold", "macro_f1") or _metric(version, "macro_f1")

    @admin.display(description="accuracy")
    def accuracy(self, version: ModelVersion) -> object:
        return _metric(version, "without_threshold", "accuracy") or _metric(version, "accuracy")

    @admin.display(description="coverage")
    def coverage(self, version: ModelVersion) -> object:
        return _metric(version, "coverage")

    @admin.display(description="gate")
    def gate(self, version: ModelVersion) -> str:
        return str(version.promotion.get("reason", ""))

    @admin.display(description="evaluated on")
    def evaluated_on(self, version: ModelVersion) -> int:
        return version.heldout_examples

    @admin.action(description="Promote the selected version (make it live)", permissions=["change"])
    def promote(self, request: HttpRequest, queryset: QuerySet[ModelVersion]) -> None:
        if queryset.count() != 1:
            self.message_user(request, "Select exactly one version to promote.", messages.ERROR)
            return
        try:
            version = model_version_promote(version_id=queryset.get().id, actor=request.user)
        except RegistryError as exc:
            self.message_user(request, str(exc), messages.ERROR)
            return
        self.message_user(request, f"{version} is live.")

    @admin.action(
        description="Roll back: put the previous live version back", permissions=["change"]
    )
    def roll_back(self, request: HttpRequest, queryset: QuerySet[ModelVersion]) -> None:
        pairs = set(queryset.values_list("store_id", "kind"))
        for store_id, kind in sorted(pairs):
            try:
                version = model_version_rollback(store_id=store_id, kind=kind, actor=request.user)
            except RegistryError as exc:
                self.message_user(request, str(exc), messages.ERROR)
                continue
            self.message_user(request, f"Rolled back: {version} is live again.")


@admin.register(ModelEvent)
class ModelEventAdmin(ReadOnlyAdmin):
    list_display = [
        "created_at",
        "store",
        "kind",
        "action",
        "version",
        "previous",
        "actor",
        "reason",
    ]
    list_filter = [("store", admin.RelatedOnlyFieldListFilter), "kind", "action"]
    list_select_related = ["store", "version", "previous", "actor"]

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(TrainingRun)
class TrainingRunAdmin(ReadOnlyAdmin):
    list_display = [
        "id",
        "store",
        "kind",
        "trigger",
        "state",
        "started_at",
        "duration_seconds",
        "version",
        "promoted",
        "reason",
    ]
    list_filter = [("store", admin.RelatedOnlyFieldListFilter), "kind", "state", "trigger"]
    list_select_related = ["store", "version"]

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class EvaluationSetChangeInline(admin.TabularInline):
    model = EvaluationSetChange
    extra = 0
    can_delete = False
    fields = ["created_at", "action", "items_added", "size_after", "policy", "actor", "note"]
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(EvaluationSet)
class EvaluationSetAdmin(StoreScopedAdmin):
    """Only the policy is editable; items change by that policy or the grow_evaluation
    command, and every change is listed below the set."""

    list_display = ["store", "kind", "policy", "size", "updated_at"]
    list_filter = [("store", admin.RelatedOnlyFieldListFilter), "kind", "policy"]
    fields = ["store", "kind", "policy", "size", "checksum", "created_at", "updated_at"]
    readonly_fields = ["store", "kind", "size", "checksum", "created_at", "updated_at"]
    inlines = [EvaluationSetChangeInline]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def save_model(self, request, obj, form, change):  # type: ignore[no-untyped-def]
        from webapp.mlops.services import evaluation_set_policy_set

        evaluation_set_policy_set(evaluation_set=obj, policy=obj.policy, actor=request.user)
