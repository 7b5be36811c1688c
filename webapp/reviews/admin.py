from django.contrib import admin
from django.utils import timezone

from webapp.reviews.models import Alert, AlertRule, Review, ReviewSource
from webapp.reviews.services import reviews_request_scoring
from webapp.stores.admin_scoping import StoreScopedAdmin


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

    def save_model(self, request, obj, form, change):  # type: ignore[no-untyped-def]
        if not change:
            obj.source = ReviewSource.ADMIN
        if {"title", "body"} & set(form.changed_data):
            obj.sentiment, obj.sentiment_score, obj.aspects = "", None, {}
            obj.scored_at, obj.scored_by = None, ""
        super().save_model(request, obj, form, change)
        if obj.scored_at is None:
            reviews_request_scoring(review_ids=[obj.id])


@admin.register(AlertRule)
class AlertRuleAdmin(StoreScopedAdmin):
    list_display = [
        "name", "store", "product", "window_days", "min_reviews", "max_negative_share", "is_active",
    ]  # fmt: skip
    list_filter = ["store", "is_active"]
    raw_id_fields = ["product"]


@admin.register(Alert)
class AlertAdmin(StoreScopedAdmin):
    list_display = ["message", "store", "rule", "triggered_at", "emailed_to", "acknowledged_at"]
    list_filter = ["store", "rule"]
    date_hierarchy = "triggered_at"
    readonly_fields = [
        "rule", "store", "product", "triggered_at", "reviews", "negative", "message",
        "emailed_to", "acknowledged_at",
    ]  # fmt: skip
    actions = ["acknowledge"]

    def has_add_permission(self, request):  # type: ignore[no-untyped-def]
        return False

    @admin.action(description="Acknowledge the selected alerts", permissions=["change"])
    def acknowledge(self, request, queryset):  # type: ignore[no-untyped-def]
        count = queryset.filter(acknowledged_at__isnull=True).update(acknowledged_at=timezone.now())
        self.message_user(request, f"Acknowledged {count} alert(s).")
