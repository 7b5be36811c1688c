"""Celery application and tasks (thin wrappers around the Django apps' services)."""

from workers.celery import app

__all__ = ["app"]
