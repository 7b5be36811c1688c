"""Reads behind the merchant's sentiment dashboard: every figure is one aggregate query.

Reviews are filtered by period (the last N days, compared with the N days before), product
and category. Sentiment comes from the workers' scores; reviews not scored yet count in the
review totals and ratings but not in sentiment shares.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db.models import Avg, Count, F, Q, QuerySet
from django.db.models.functions import TruncWeek

from webapp.catalog.models import Product
from webapp.reviews.models import Alert, Aspect, Review, ReviewAspect, Sentiment
from webapp.stores.models import Store

PERIODS: dict[str, int | None] = {"7": 7, "30": 30, "90": 90, "180": 180, "all": None}
DEFAULT_PERIOD = "90"
# A product needs this many reviews in the period to be ranked best or worst.
MIN_REVIEWS_TO_RANK = 3
RANKED = 5
LISTED = 10
# Aspect polarities at or below this count as a complaint about the aspect.
NEGATIVE_POLARITY = -0.05


@dataclass(frozen=True)
class Filters:
    period: str = DEFAULT_PERIOD
    sku: str = ""
    category: str = ""

    @classmethod
    def from_query(cls, query: Any) -> Filters:
        """From request.GET; unknown periods fall back to the default, text is trimmed."""
        period = query.get("period", DEFAULT_PERIOD)
        return cls(
            period=period if period in PERIODS else DEFAULT_PERIOD,
            sku=(query.get("product") or "").strip()[:64],
            category=(query.get("category") or "").strip()[:100],
        )

    @property
    def days(self) -> int | None:
        return PERIODS[self.period]

    def as_query(self) -> dict[str, str]:
        query = {"period": self.period}
        if self.sku:
            query["product"] = self.sku
        if self.category:
            query["category"] = self.category
        return query


def _scoped(rows: QuerySet, filters: Filters, prefix: str = "") -> QuerySet:
    if filters.sku:
        rows = rows.filter(**{f"{prefix}product__sku": filters.sku})
    if filters.category:
        rows = rows.filter(**{f"{prefix}product__category": filters.category})
    return rows


def reviews_in(
    store: Store, filters: Filters, now: datetime, *, previous: bool = False
) -> QuerySet:
    """The store's reviews matching the filters in the period (or the one before it)."""
    rows = _scoped(Review.objects.filter(store=store), filters)
    days = filters.days
    if days is None:
        return rows.none() if previous else rows.filter(created_at__lte=now)
    start = now - timedelta(days=days)
    if previous:
        return rows.filter(created_at__gt=start - timedelta(days=days), created_at__lte=start)
    return rows.filter(created_at__gt=start, created_at__lte=now)


_SUMMARY = {
    "reviews": Count("id"),
    "avg_rating": Avg("rating"),
    "scored": Count("id", filter=Q(scored_at__isnull=False)),
    "negative": Count("id", filter=Q(sentiment=Sentiment.NEGATIVE)),
    "positive": Count("id", filter=Q(sentiment=Sentiment.POSITIVE)),
    "avg_score": Avg("sentiment_score"),
}


def _shares(row: dict[str, Any]) -> dict[str, Any]:
    scored = row["scored"]
    row["negative_share"] = row["negative"] / scored if scored else None
    row["positive_share"] = row["positive"] / scored if scored else None
    return row


def headline(store: Store, filters: Filters, now: datetime) -> dict[str, Any]:
    """Reviews, average rating, negative share and average score, with the previous period's
    figures and the change (None where either side has no data)."""
    current = _shares(reviews_in(store, filters, now).aggregate(**_SUMMARY))
    before = _shares(reviews_in(store, filters, now, previous=True).aggregate(**_SUMMARY))
    change = {}
    for key in ("reviews", "avg_rating", "negative_share", "avg_score"):
        a, b = current[key], before[key]
        change[key] = None if a is None or b is None or (key == "reviews" and not b) else a - b
    return {"current": current, "previous": before, "change": change}


def weekly_trend(rows: QuerySet) -> list[dict[str, Any]]:
    """Per ISO week (Monday): reviews, average rating and score, negative/positive shares."""
    weeks = (
        rows.annotate(week=TruncWeek("created_at"))
        .values("week")
        .annotate(**_SUMMARY)
        .order_by("week")
    )
    return [_shares(dict(week)) for week in weeks]


def product_table(rows: QuerySet) -> list[dict[str, Any]]:
    """Per product: reviews, average rating and score, negative share; most reviewed first."""
    products = (
        rows.values(sku=F("product__sku"), name=F("product__name"), category=F("product__category"))
        .annotate(**_SUMMARY)
        .order_by("-reviews", "sku")
    )
    return [_shares(dict(row)) for row in products]


def ranked_products(table: list[dict[str, Any]]) -> tuple[list[dict], list[dict]]:
    """(worst, best) by average sentiment score among products with enough scored reviews."""
    eligible = [
        row
        for row in table
        if row["scored"] >= MIN_REVIEWS_TO_RANK and row["avg_score"] is not None
    ]
    by_score = sorted(eligible, key=lambda row: (row["avg_score"], row["sku"]))
    worst = by_score[:RANKED]
    best = [row for row in reversed(by_score) if row not in worst][:RANKED]
    return worst, best


def aspect_table(store: Store, filters: Filters, now: datetime) -> list[dict[str, Any]]:
    """Per aspect: mentions, average polarity and the share of mentions that complain."""
    rows = _scoped(ReviewAspect.objects.filter(store=store), filters)
    if filters.days is not None:
        rows = rows.filter(created_at__gt=now - timedelta(days=filters.days))
    rows = rows.filter(created_at__lte=now)
    found = {
        row["aspect"]: row
        for row in rows.values("aspect").annotate(
            mentions=Count("id"),
            avg_polarity=Avg("polarity"),
            complaints=Count("id", filter=Q(polarity__lte=NEGATIVE_POLARITY)),
        )
    }
    table = []
    for aspect in Aspect:
        row = found.get(aspect.value, {"mentions": 0, "avg_polarity": None, "complaints": 0})
        share = row["complaints"] / row["mentions"] if row["mentions"] else None
        table.append(
            {
                "aspect": aspect.value,
                "label": aspect.label,
                "mentions": row["mentions"],
                "avg_polarity": row["avg_polarity"],
                "complaints": row["complaints"],
                "complaint_share": share,
            }
        )
    return table


def contradictions(rows: QuerySet, limit: int = LISTED) -> QuerySet:
    """Reviews whose text disagrees with their stars: 4-5 stars read as negative, or 1-2
    stars read as positive."""
    return (
        rows.filter(
            Q(rating__gte=4, sentiment=Sentiment.NEGATIVE)
            | Q(rating__lte=2, sentiment=Sentiment.POSITIVE)
        )
        .select_related("product")
        .order_by("-created_at", "-id")[:limit]
    )


def latest_negative(rows: QuerySet, limit: int = LISTED) -> QuerySet:
    return (
        rows.filter(sentiment=Sentiment.NEGATIVE)
        .select_related("product")
        .order_by("-created_at", "-id")[:limit]
    )


def filter_choices(store: Store) -> dict[str, list]:
    products = Product.objects.filter(store=store).order_by("name")
    return {
        "products": list(products.values_list("sku", "name")),
        "categories": sorted(set(products.exclude(category="").values_list("category", flat=True))),
    }


def open_alerts(store: Store, limit: int = LISTED) -> QuerySet:
    """Alerts nobody has acknowledged yet, newest first."""
    return (
        Alert.objects.filter(store=store, acknowledged_at__isnull=True)
        .select_related("product", "rule")
        .order_by("-triggered_at")[:limit]
    )
