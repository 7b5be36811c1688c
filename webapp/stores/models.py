from __future__ import annotations

from django.conf import settings
from django.core.validators import RegexValidator
from django.db import models

slug_validator = RegexValidator(
    r"^[a-z0-9](?:[a-z0-9-]{0,48}[a-z0-9])?$",
    "Use 1-50 lowercase letters, digits and hyphens, not starting or ending with a hyphen.",
)


class Store(models.Model):
    """A tenant: every domain row belongs to exactly one store."""

    slug = models.SlugField(max_length=50, unique=True, validators=[slug_validator])
    name = models.CharField(max_length=200)
    currency = models.CharField(max_length=3, default="EUR")
    train_on_confirmed_answers = models.BooleanField(
        default=False,
        help_text="Retraining also learns from shopper messages whose bot answer the shopper "
        "rated helpful, labelled with the intent the bot gave them",
    )
    retention_days = models.PositiveIntegerField(
        default=365,
        help_text="Conversations with no activity for this many days are deleted, with their "
        "messages and ratings (training examples made from them are kept, redacted); 0 keeps "
        "them",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["slug"]

    def __str__(self) -> str:
        return self.name


class Role(models.TextChoices):
    MERCHANT = "merchant", "Merchant"
    AGENT = "agent", "Agent"


class Membership(models.Model):
    """A user's role in one store; a user may belong to several stores."""

    store = models.ForeignKey(Store, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="store_memberships"
    )
    role = models.CharField(max_length=20, choices=Role.choices)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["store", "user"], name="membership_unique_store_user")
        ]

    def __str__(self) -> str:
        return f"{self.user} — {self.role} of {self.store}"


class ApiKey(models.Model):
    """A store's key for server-to-server calls (the storefront posting reviews). Only a
    SHA-256 of the key is kept; the key itself is shown once, when it is created."""

    store = models.ForeignKey(Store, on_delete=models.CASCADE, related_name="api_keys")
    name = models.CharField(max_length=100, help_text="what uses it, e.g. 'storefront'")
    prefix = models.CharField(max_length=12, unique=True, help_text="the key's public start")
    key_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["store", "-created_at"]
        verbose_name = "API key"

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"
