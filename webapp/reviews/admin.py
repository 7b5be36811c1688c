from django.contrib import admin

from webapp.catalog.models import Product
from webapp.reviews.models import Review, ReviewSource
from webapp.reviews.services import reviews_request_scoring
from webapp.stores.admin_scoping import StoreScopedAdmin
from webapp.stores.selectors import store_ids_for_user


@admin.register(Review)
class ReviewAdmin(StoreScopedAdmin):
    list_display = ["__str__", "product", "rating", "sentiment", "created_at", "source", "store"]
    list_filter = ["store", "rating", "sentiment", "source"]
    search_fields = ["title", "body", "author_name", "product__sku", "product__name"]
    list_select_related = ["store", "product"]
    date_hierarchy = "created_at"
    readonly_fields = [
        "source", "sentiment", "sentiment_score", "aspects", "scored_at", "scored_by",
    ]  # fmt: skip
    raw_id_fields = ["product"]

    def formfield_for_foreignkey(self, db_field, request, **kwargs):  # type: ignore[no-untyped-def]
        if db_field.name == "product":
            ids = store_ids_for_user(user=request.user)
            if ids is not None:
                kwargs["queryset"] = Product.objects.filter(store_id__in=ids)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def save_model(self, request, obj, form, change):  # type: ignore[no-untyped-def]
        if not change:
            obj.source = ReviewSource.ADMIN
        if {"title", "body"} & set(form.changed_data):
            obj.sentiment, obj.sentiment_score, obj.aspects = "", None, {}
            obj.scored_at, obj.scored_by = None, ""
        super().save_model(request, obj, form, change)
        if obj.scored_at is None:
            reviews_request_scoring(review_ids=[obj.id])
