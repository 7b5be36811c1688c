from __future__ import annotations

from django.db import models

from webapp.stores.models import Store


class OrderStatus(models.TextChoices):
    PLACED = "placed", "Placed"
    PAID = "paid", "Paid"
    PACKED = "packed", "Packed"
    SHIPPED = "shipped", "Shipped"
    DELIVERED = "delivered", "Delivered"
    CANCELLED = "cancelled", "Cancelled"
    RETURNED = "returned", "Returned"


class Order(models.Model):
    """A store's order as the shop system reports it; the bot reads it, never writes it."""

    store = models.ForeignKey(Store, on_delete=models.CASCADE, related_name="orders")
    number = models.CharField(max_length=40)
    email = models.EmailField()
    customer_name = models.CharField(max_length=200, blank=True)
    status = models.CharField(max_length=20, choices=OrderStatus.choices)
    items = models.JSONField(default=list, blank=True, help_text="[{sku, name, quantity, price}]")
    carrier = models.CharField(max_length=60, blank=True)
    tracking_number = models.CharField(max_length=80, blank=True)
    tracking_url = models.URLField(max_length=500, blank=True)
    placed_at = models.DateTimeField()
    shipped_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    estimated_delivery = models.DateField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-placed_at"]
        constraints = [
            models.UniqueConstraint(fields=["store", "number"], name="order_unique_store_number")
        ]

    def __str__(self) -> str:
        return self.number
