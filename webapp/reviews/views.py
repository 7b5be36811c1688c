"""The merchant's sentiment dashboard and its CSV exports (merchants of the store only)."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

from webapp.common.spreadsheets import SafeCsvWriter
from webapp.reviews import dashboard
from webapp.reviews.models import Review
from webapp.stores.models import Role, Store
from webapp.stores.selectors import store_get_by_slug, store_role

EXPORTS = ("trend", "products", "aspects", "contradictions", "negative")


def _merchant_store_or_404(request: HttpRequest, slug: str) -> Store:
    """The store if the user is one of its merchants (or a superuser); 404 otherwise, so the
    page does not even confirm that another store exists."""
    store = store_get_by_slug(slug=slug)
    if store is None or store_role(store=store, user=request.user) != Role.MERCHANT:
        raise Http404("No such store.")
    return store


@login_required
def dashboard_index(request: HttpRequest) -> HttpResponse:
    stores = Store.objects.all()
    if not request.user.is_superuser:
        stores = stores.filter(memberships__user=request.user, memberships__role=Role.MERCHANT)
    stores = stores.order_by("name")
    if len(stores) == 1:
        return redirect("reviews-dashboard", slug=stores[0].slug)
    return render(request, "reviews/index.html", {"stores": stores})


def _figures(store: Store, filters: dashboard.Filters) -> dict[str, Any]:
    now = timezone.now()
    rows = dashboard.reviews_in(store, filters, now)
    products = dashboard.product_table(rows)
    worst, best = dashboard.ranked_products(products)
    return {
        "headline": dashboard.headline(store, filters, now),
        "trend": dashboard.weekly_trend(rows),
        "products": products,
        "worst": worst,
        "best": best,
        "aspects": dashboard.aspect_table(store, filters, now),
        "contradictions": list(dashboard.contradictions(rows)),
        "negative": list(dashboard.latest_negative(rows)),
        "alerts": list(dashboard.open_alerts(store)),
    }


def highlighted(review: Review) -> SafeString:
    """The review's text, HTML-escaped, with the words naming an aspect in ``<mark>``."""
    from nlp.sentiment import aspect_spans

    text = review.text
    parts, position = [], 0
    for start, end, aspect in aspect_spans(text):
        polarity = (review.aspects or {}).get(aspect)
        tone = "neg" if polarity is not None and polarity < 0 else "other"
        parts.append(escape(text[position:start]))
        parts.append(
            f'<mark class="aspect aspect-{tone}" title="{escape(aspect)}">'
            f"{escape(text[start:end])}</mark>"
        )
        position = end
    parts.append(escape(text[position:]))
    return mark_safe("".join(parts))  # every piece is escaped above


@login_required
def dashboard_view(request: HttpRequest, slug: str) -> HttpResponse:
    store = _merchant_store_or_404(request, slug)
    filters = dashboard.Filters.from_query(request.GET)
    figures = _figures(store, filters)
    for review in figures["negative"]:
        review.highlighted = highlighted(review)
    chart_data = {
        "trend": [
            {
                "week": row["week"].date().isoformat(),
                "reviews": row["reviews"],
                "negative_share": row["negative_share"],
                "avg_rating": row["avg_rating"],
            }
            for row in figures["trend"]
        ],
        "aspects": [
            {
                "label": row["label"],
                "mentions": row["mentions"],
                "complaint_share": row["complaint_share"],
            }
            for row in figures["aspects"]
        ],
    }
    return render(
        request,
        "reviews/dashboard.html",
        {
            "store": store,
            "filters": filters,
            "query": filters.as_query(),
            "periods": list(dashboard.PERIODS),
            "choices": dashboard.filter_choices(store),
            "chart_data": chart_data,
            "exports": EXPORTS,
            **figures,
        },
    )


def _pct(value: float | None) -> str:
    return "" if value is None else f"{value * 100:.1f}"


def _num(value: float | None, digits: int = 3) -> str:
    return "" if value is None else f"{value:.{digits}f}"


def _review_rows(reviews: list[Review]) -> list[list[str]]:
    return [
        [
            r.created_at.date().isoformat(),
            r.product.sku,
            r.product.name,
            str(r.rating),
            r.sentiment,
            _num(r.sentiment_score),
            "; ".join(f"{k} {v:+.2f}" for k, v in sorted((r.aspects or {}).items())),
            r.title,
            r.body,
        ]
        for r in reviews
    ]


@login_required
def dashboard_export(request: HttpRequest, slug: str, section: str) -> HttpResponse:
    """One section of the dashboard, with the same filters, as CSV."""
    store = _merchant_store_or_404(request, slug)
    if section not in EXPORTS:
        raise Http404("No such export.")
    filters = dashboard.Filters.from_query(request.GET)
    figures = _figures(store, filters)
    review_header = [
        "date", "sku", "product", "rating", "sentiment", "score", "aspects", "title", "body",
    ]  # fmt: skip
    if section == "trend":
        header = ["week", "reviews", "avg_rating", "negative_share_pct", "avg_score"]
        rows = [
            [
                r["week"].date().isoformat(),
                str(r["reviews"]),
                _num(r["avg_rating"], 2),
                _pct(r["negative_share"]),
                _num(r["avg_score"]),
            ]
            for r in figures["trend"]
        ]
    elif section == "products":
        header = [
            "sku", "product", "category", "reviews", "avg_rating", "negative_share_pct",
            "avg_score",
        ]  # fmt: skip
        rows = [
            [
                r["sku"],
                r["name"],
                r["category"],
                str(r["reviews"]),
                _num(r["avg_rating"], 2),
                _pct(r["negative_share"]),
                _num(r["avg_score"]),
            ]
            for r in figures["products"]
        ]
    elif section == "aspects":
        header = ["aspect", "mentions", "avg_polarity", "complaint_share_pct"]
        rows = [
            [r["aspect"], str(r["mentions"]), _num(r["avg_polarity"]), _pct(r["complaint_share"])]
            for r in figures["aspects"]
        ]
    else:
        header = review_header
        rows = _review_rows(figures[section])
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    name = f"{store.slug}-{section}-{filters.period}.csv"
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    writer = SafeCsvWriter(response)
    writer.writerow(header)
    writer.writerows(rows)
    return response
