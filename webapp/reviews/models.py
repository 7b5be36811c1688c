from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils import timezone

from webapp.catalog.models import Product
from webapp.stores.models import Store

MAX_TITLE_CHARS = 200
MAX_BODY_CHARS = 5000


class ReviewSource(models.TextChoices):
    API = "api", "Storefront API"
    IMPORT = "import", "Import"
    ADMIN = "admin", "Admin"
    DEMO = "demo", "Demo data"


class Sentiment(models.TextChoices):
    NEGATIVE = "negative", "Negative"
    NEUTRAL = "neutral", "Neutral"
    POSITIVE = "positive", "Positive"


class Review(models.Model):
    """A shopper's review of one product. The sentiment fields stay empty until a worker has
    scored the text (``scored_at``); a changed title or body clears them for rescoring."""

    store = models.ForeignKey(Store, on_delete=models.CASCADE, related_name="reviews")
    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="reviews")
    rating = models.PositiveSmallIntegerField()
    title = models.CharField(max_length=MAX_TITLE_CHARS, blank=True)
    body = models.TextField(max_length=MAX_BODY_CHARS, blank=True)
    author_name = models.CharField(max_length=100, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    source = models.CharField(max_length=10, choices=ReviewSource.choices)
    # The shop system's id for the review: re-importing the same id updates instead of adding.
    external_id = models.CharField(max_length=100, blank=True)
    sentiment = models.CharField(max_length=10, choices=Sentiment.choices, blank=True)
    sentiment_score = models.FloatField(null=True, blank=True)
    aspects = models.JSONField(default=dict, blank=True, help_text="{aspect: polarity}")
    scored_at = models.DateTimeField(null=True, blank=True)
    scored_by = models.CharField(max_length=60, blank=True, help_text="model that scored it")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["store", "external_id"],
                condition=~Q(external_id=""),
                name="review_unique_store_external_id",
            ),
            models.CheckConstraint(
                condition=Q(rating__gte=1) & Q(rating__lte=5), name="review_rating_1_to_5"
            ),
        ]
        indexes = [
            models.Index(fields=["store", "created_at"], name="review_store_created"),
            models.Index(fields=["store", "product", "created_at"], name="review_store_product"),
            models.Index(fields=["store", "scored_at"], name="review_store_scored"),
            # The sweep's query: unscored reviews by age, over only the unscored rows.
            models.Index(
                fields=["updated_at"], condition=Q(scored_at__isnull=True), name="review_unscored"
            ),
        ]

    def __str__(self) -> str:
        return self.title or self.body[:60] or f"{self.rating}★ review"

    @property
    def text(self) -> str:
        """What the sentiment model reads: the title and the body."""
        return ". ".join(part.strip() for part in (self.title, self.body) if part.strip())

    def clean(self) -> None:
        super().clean()
        if self.product_id and self.store_id and self.product.store_id != self.store_id:
            raise ValidationError({"product": "This product belongs to another store."})
        if not (self.title.strip() or self.body.strip()):
            raise ValidationError("A review needs a title or a body.")
        if self.rating is not None and not 1 <= self.rating <= 5:
            raise ValidationError({"rating": "Ratings go from 1 to 5 stars."})


class Aspect(models.TextChoices):
    QUALITY = "quality", "Quality"
    DELIVERY = "delivery", "Delivery"
    PRICE = "price", "Price / value"
    SIZE_FIT = "size_fit", "Size / fit"
    CUSTOMER_SERVICE = "customer_service", "Customer service"
    PACKAGING = "packaging", "Packaging"


class ReviewAspect(models.Model):
    """One aspect a scored review talks about, with its polarity: a row per (review, aspect),
    written with the score, so the dashboard aggregates aspects with indexed GROUP BY queries
    instead of reading every review's JSON."""

    review = models.ForeignKey(Review, on_delete=models.CASCADE, related_name="aspect_rows")
    store = models.ForeignKey(Store, on_delete=models.CASCADE, related_name="+")
    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="+")
    aspect = models.CharField(max_length=20, choices=Aspect.choices)
    polarity = models.FloatField()
    created_at = models.DateTimeField(help_text="the review's date")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["review", "aspect"], name="review_aspect_unique")
        ]
        indexes = [models.Index(fields=["store", "created_at"], name="review_aspect_store_time")]

    def __str__(self) -> str:
        return f"{self.aspect} {self.polarity:+.2f}"


class AlertRule(models.Model):
    """ "Tell me when a product turns sour": over the last ``window_days``, a product with at
    least ``min_reviews`` scored reviews of which more than ``max_negative_share`` are negative
    raises an alert (on the dashboard, in the admin, and by email)."""

    store = models.ForeignKey(Store, on_delete=models.CASCADE, related_name="alert_rules")
    name = models.CharField(max_length=100)
    product = models.ForeignKey(
        Product,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="+",
        help_text="empty: every product of the store",
    )
    window_days = models.PositiveSmallIntegerField(default=7)
    min_reviews = models.PositiveSmallIntegerField(default=5)
    max_negative_share = models.FloatField(
        default=0.4, help_text="0-1: alert when the negative share is above this"
    )
    email_to = models.CharField(
        max_length=500, blank=True, help_text="comma-separated; empty: the store's merchants"
    )
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["store", "name"]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        super().clean()
        if not 0 <= self.max_negative_share < 1:
            raise ValidationError({"max_negative_share": "Use a share from 0 to below 1."})
        if self.window_days < 1 or self.min_reviews < 1:
            raise ValidationError(
                "The window and the minimum number of reviews must be at least 1."
            )
        if self.product_id and self.store_id and self.product.store_id != self.store_id:
            raise ValidationError({"product": "This product belongs to another store."})


class Alert(models.Model):
    """One firing of a rule for one product. A rule does not fire again for the same product
    while its last alert is younger than the rule's window."""

    rule = models.ForeignKey(AlertRule, on_delete=models.CASCADE, related_name="alerts")
    store = models.ForeignKey(Store, on_delete=models.CASCADE, related_name="+")
    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="+")
    triggered_at = models.DateTimeField(default=timezone.now)
    reviews = models.PositiveIntegerField()
    negative = models.PositiveIntegerField()
    message = models.CharField(max_length=300)
    emailed_to = models.CharField(max_length=500, blank=True)
    acknowledged_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-triggered_at"]
        indexes = [models.Index(fields=["store", "triggered_at"], name="alert_store_time")]

    def __str__(self) -> str:
        return self.message
