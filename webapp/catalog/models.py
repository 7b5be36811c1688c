from __future__ import annotations

from decimal import Decimal

from django.core.validators import MinValueValidator
from django.db import models
from django.urls import reverse

from webapp.stores.models import Store


class Product(models.Model):
    store = models.ForeignKey(Store, on_delete=models.CASCADE, related_name="products")
    sku = models.CharField(max_length=64)
    name = models.CharField(max_length=300)
    description = models.TextField(blank=True)
    price = models.DecimalField(
        max_digits=12, decimal_places=2, validators=[MinValueValidator(Decimal("0"))]
    )
    currency = models.CharField(max_length=3, default="EUR")
    category = models.CharField(max_length=120, blank=True, db_index=True)
    attributes = models.JSONField(default=dict, blank=True)
    stock = models.PositiveIntegerField(default=0)
    url = models.CharField(max_length=500, blank=True, help_text="Product page; blank = ours")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["category", "name"]
        constraints = [
            models.UniqueConstraint(fields=["store", "sku"], name="product_unique_store_sku")
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.sku})"

    def get_absolute_url(self) -> str:
        if self.url:
            return self.url
        return reverse("storefront:product", args=[self.store.slug, self.sku])


class FaqEntry(models.Model):
    store = models.ForeignKey(Store, on_delete=models.CASCADE, related_name="faq_entries")
    question = models.CharField(max_length=500)
    answer = models.TextField()
    category = models.CharField(max_length=120, blank=True, db_index=True)
    intent = models.CharField(
        max_length=64, blank=True, help_text="Optional intent label this entry answers"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["category", "question"]
        verbose_name = "FAQ entry"
        verbose_name_plural = "FAQ entries"
        constraints = [
            models.UniqueConstraint(fields=["store", "question"], name="faq_unique_store_question")
        ]

    def __str__(self) -> str:
        return self.question

    def get_absolute_url(self) -> str:
        return reverse("storefront:faq", args=[self.store.slug]) + f"#faq-{self.id}"
