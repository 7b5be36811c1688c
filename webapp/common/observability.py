"""What an operator watches: Prometheus metrics and structured logs with request and
conversation ids.

Metrics (prometheus-client, served at ``GET /metrics``):

* ``shopdesk_chat_replies_total{action}`` and ``shopdesk_chat_reply_seconds`` (a histogram of
  a bot turn, from the shopper's message arriving to the reply saved);
* ``shopdesk_chat_escalations_total{reason}``, ``shopdesk_chat_turns_waiting`` (the bounded
  queue of turns) and ``shopdesk_chat_busy_total{kind}``;
* read from the database when scraped: ``shopdesk_live_model_version{store,kind}``,
  ``shopdesk_reviews_unscored{store}`` and ``shopdesk_review_scoring_lag_seconds{store}``
  (the oldest unscored review's age).

With several processes (uvicorn ``--workers``, Celery), set ``PROMETHEUS_MULTIPROC_DIR`` to
an empty directory shared by them; the endpoint then sums every process's counters.
``METRICS_TOKEN`` set: ``/metrics`` wants ``Authorization: Bearer <token>``; unset: it answers
loopback clients only.

Logs: ``LOG_FORMAT=json`` (the default when ``DATABASE_URL`` is set) writes one JSON object a
line with ``request_id`` (from ``X-Request-ID``, or a new one, echoed in the response) and
``conversation_id`` wherever a chat turn is being handled.
"""

from __future__ import annotations

import contextvars
import json
import logging
import os
import uuid
from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import REGISTRY, Collector

request_id_var: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="")
conversation_id_var: contextvars.ContextVar[int | None] = contextvars.ContextVar(
    "conversation_id", default=None
)

REPLIES = Counter("shopdesk_chat_replies_total", "Bot replies sent, by action", ["action"])
REPLY_SECONDS = Histogram(
    "shopdesk_chat_reply_seconds",
    "Seconds from a shopper's message arriving to the bot's reply saved",
    buckets=(0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1, 1.5, 2, 3, 5, 8, 13),
)
ESCALATIONS = Counter(
    "shopdesk_chat_escalations_total", "Conversations handed to a human, by reason", ["reason"]
)
BUSY = Counter("shopdesk_chat_busy_total", "Messages answered with a busy frame", ["kind"])
TURNS_WAITING = Gauge(
    "shopdesk_chat_turns_waiting", "Bot turns waiting for a free slot", multiprocess_mode="sum"
)


def observe_escalation(reason: str) -> None:
    # Reasons are the bot's fixed strings (or "taken over by an agent"): few label values.
    ESCALATIONS.labels(reason=reason[:60] or "unknown").inc()


class DatabaseCollector(Collector):
    """Figures read from the database at scrape time (one query each)."""

    def collect(self) -> Iterator[GaugeMetricFamily]:
        from django.db.models import Count, Min
        from django.utils import timezone

        from webapp.mlops.models import ModelVersion
        from webapp.reviews.models import Review

        live = GaugeMetricFamily(
            "shopdesk_live_model_version", "The live model's version", labels=["store", "kind"]
        )
        for slug, kind, version in ModelVersion.objects.filter(state="live").values_list(
            "store__slug", "kind", "version"
        ):
            live.add_metric([slug, kind], version)
        yield live
        unscored = GaugeMetricFamily(
            "shopdesk_reviews_unscored", "Reviews waiting for a sentiment", labels=["store"]
        )
        lag = GaugeMetricFamily(
            "shopdesk_review_scoring_lag_seconds",
            "Age of the oldest unscored review (since it was saved)",
            labels=["store"],
        )
        now = timezone.now()
        rows = (
            Review.objects.filter(scored_at__isnull=True)
            .values("store__slug")
            .annotate(n=Count("id"), oldest=Min("updated_at"))
        )
        for row in rows:
            unscored.add_metric([row["store__slug"]], row["n"])
            lag.add_metric([row["store__slug"]], (now - row["oldest"]).total_seconds())
        yield unscored
        yield lag


def metrics_payload() -> bytes:
    """Every metric of this process, or of all processes in multiprocess mode."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        registry.register(DatabaseCollector())
        return generate_latest(registry)
    return generate_latest(REGISTRY) + generate_latest(_database_registry())


_db_registry: CollectorRegistry | None = None


def _database_registry() -> CollectorRegistry:
    global _db_registry
    if _db_registry is None:
        _db_registry = CollectorRegistry()
        _db_registry.register(DatabaseCollector())
    return _db_registry


METRICS_CONTENT_TYPE = CONTENT_TYPE_LATEST


# --- logs ------------------------------------------------------------------------------------


class ContextFilter(logging.Filter):
    """Puts the request and conversation ids of the current context on every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id_var.get()
        record.conversation_id = conversation_id_var.get()
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in ("request_id", "conversation_id"):
            value = getattr(record, name, None)
            if value:
                entry[name] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def request_id_middleware(get_response: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """Takes the caller's ``X-Request-ID`` (or makes one), logs under it, and echoes it."""

    def middleware(request: Any) -> Any:
        incoming = request.headers.get("X-Request-ID", "")
        request_id = incoming if 0 < len(incoming) <= 64 and incoming.isprintable() else ""
        token = request_id_var.set(request_id or uuid.uuid4().hex)
        try:
            response = get_response(request)
            response["X-Request-ID"] = request_id_var.get()
            return response
        finally:
            request_id_var.reset(token)

    return middleware
