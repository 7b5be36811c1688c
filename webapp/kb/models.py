from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.db import models

from webapp.stores.models import Store


class SearchIndex(models.Model):
    """One immutable, versioned search-index artefact of a store; the newest one is live."""

    store = models.ForeignKey(Store, on_delete=models.CASCADE, related_name="search_indexes")
    version = models.PositiveIntegerField()
    path = models.CharField(max_length=500, help_text="Relative to MODEL_DIR")
    content_hash = models.CharField(max_length=64)
    encoder = models.CharField(max_length=200)
    documents = models.PositiveIntegerField()
    chunks = models.PositiveIntegerField()
    index_kind = models.CharField(max_length=20)
    checksum = models.CharField(max_length=64)
    build_seconds = models.FloatField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["store", "-version"]
        verbose_name_plural = "search indexes"
        constraints = [
            models.UniqueConstraint(fields=["store", "version"], name="searchindex_unique_version")
        ]

    def __str__(self) -> str:
        return f"{self.store.slug} index v{self.version}"

    @property
    def directory(self) -> Path:
        return Path(settings.MODEL_DIR) / self.path
