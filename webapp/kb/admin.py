from django.contrib import admin

from webapp.kb.models import SearchIndex
from webapp.stores.admin_scoping import StoreScopedAdmin


@admin.register(SearchIndex)
class SearchIndexAdmin(StoreScopedAdmin):
    list_display = ["store", "version", "documents", "chunks", "index_kind", "created_at"]
    list_filter = ["store", "index_kind"]
    readonly_fields = [f.name for f in SearchIndex._meta.fields]

    def has_add_permission(self, request):  # type: ignore[no-untyped-def]
        return False

    def has_change_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False
