from django.contrib import admin

from webapp.stores.admin_scoping import StoreScopedAdmin
from webapp.stores.models import ApiKey, Membership, Store
from webapp.stores.services import api_key_revoke


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    autocomplete_fields = ["user"]


@admin.register(Store)
class StoreAdmin(admin.ModelAdmin):
    list_display = [
        "slug", "name", "currency", "retention_days", "train_on_confirmed_answers", "created_at",
    ]  # fmt: skip
    search_fields = ["slug", "name"]
    inlines = [MembershipInline]

    def get_readonly_fields(self, request, obj=None):  # type: ignore[no-untyped-def]
        return [] if request.user.is_superuser else ["slug"]

    def has_view_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return request.user.has_perm("stores.view_store", obj) or self.has_change_permission(
            request, obj
        )

    def has_change_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        """Decided in the store itself: a merchant here, not an agent here who is a merchant
        elsewhere."""
        return request.user.has_perm("stores.change_store", obj)

    def save_model(self, request, obj, form, change):  # type: ignore[no-untyped-def]
        from webapp.mlops.schedules import training_schedules_ensure

        super().save_model(request, obj, form, change)
        training_schedules_ensure(store=obj)

    def get_queryset(self, request):  # type: ignore[no-untyped-def]
        queryset = super().get_queryset(request)
        if request.user.is_superuser:
            return queryset
        return queryset.filter(memberships__user=request.user)

    def has_add_permission(self, request):  # type: ignore[no-untyped-def]
        return request.user.is_superuser

    def has_delete_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return request.user.is_superuser


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ["user", "store", "role", "created_at"]
    list_filter = ["role", "store"]

    def has_module_permission(self, request):  # type: ignore[no-untyped-def]
        return request.user.is_superuser


@admin.register(ApiKey)
class ApiKeyAdmin(StoreScopedAdmin):
    """Keys are created with ``manage.py create_api_key`` (the key is shown once); here they
    are listed and revoked."""

    list_display = ["name", "prefix", "store", "created_at", "last_used_at", "revoked_at"]
    list_filter = ["store"]
    readonly_fields = ["store", "name", "prefix", "created_at", "last_used_at", "revoked_at"]
    exclude = ["key_hash"]
    actions = ["revoke"]

    def has_add_permission(self, request):  # type: ignore[no-untyped-def]
        return False

    @admin.action(description="Revoke the selected keys", permissions=["change"])
    def revoke(self, request, queryset):  # type: ignore[no-untyped-def]
        for key in queryset:
            api_key_revoke(key_id=key.id)
        self.message_user(request, f"Revoked {queryset.count()} key(s).")
