from django.contrib import admin

from webapp.mlops.models import ModelVersion
from webapp.stores.admin_scoping import StoreScopedAdmin


@admin.register(ModelVersion)
class ModelVersionAdmin(StoreScopedAdmin):
    list_display = [
        "store",
        "kind",
        "version",
        "is_live",
        "heldout_macro_f1",
        "heldout_accuracy",
        "coverage",
        "training_examples",
        "training_seconds",
        "created_at",
    ]
    list_filter = ["store", "kind", "is_live"]
    readonly_fields = [field.name for field in ModelVersion._meta.fields]

    def has_add_permission(self, request):  # type: ignore[no-untyped-def]
        return False

    def has_change_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False

    @admin.display(description="held-out macro-F1")
    def heldout_macro_f1(self, version: ModelVersion) -> object:
        return (version.metrics.get("without_threshold") or {}).get("macro_f1")

    @admin.display(description="held-out accuracy")
    def heldout_accuracy(self, version: ModelVersion) -> object:
        return (version.metrics.get("without_threshold") or {}).get("accuracy")

    @admin.display(description="coverage")
    def coverage(self, version: ModelVersion) -> object:
        return version.metrics.get("coverage")
