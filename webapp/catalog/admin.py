from django.contrib import admin
from django.db import transaction

from webapp.catalog.models import FaqEntry, Product
from webapp.kb.services import search_index_request_rebuild
from webapp.stores.admin_scoping import StoreScopedAdmin


class RebuildsIndexOnChange(StoreScopedAdmin):
    """Edits in the admin schedule a search-index rebuild once the transaction commits."""

    def save_model(self, request, obj, form, change):  # type: ignore[no-untyped-def]
        super().save_model(request, obj, form, change)
        search_index_request_rebuild(store_id=obj.store_id)

    def delete_model(self, request, obj):  # type: ignore[no-untyped-def]
        store_id = obj.store_id
        super().delete_model(request, obj)
        search_index_request_rebuild(store_id=store_id)

    def delete_queryset(self, request, queryset):  # type: ignore[no-untyped-def]
        store_ids = set(queryset.values_list("store_id", flat=True))
        with transaction.atomic():
            super().delete_queryset(request, queryset)
            for store_id in store_ids:
                search_index_request_rebuild(store_id=store_id)


@admin.register(Product)
class ProductAdmin(RebuildsIndexOnChange):
    list_display = ["sku", "name", "category", "price", "currency", "stock", "store"]
    list_filter = ["store", "category"]
    search_fields = ["sku", "name", "description"]
    list_select_related = ["store"]


@admin.register(FaqEntry)
class FaqEntryAdmin(RebuildsIndexOnChange):
    list_display = ["question", "category", "intent", "store", "updated_at"]
    list_filter = ["store", "category", "intent"]
    search_fields = ["question", "answer"]
    list_select_related = ["store"]
