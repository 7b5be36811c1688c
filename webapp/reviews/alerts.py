"""Checking alert rules: which products turned sour, recorded once per window and emailed."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.db.models import Count, Q
from django.utils import timezone

from webapp.reviews.models import Alert, AlertRule, Review, Sentiment
from webapp.stores.models import Membership, Role


def _recipients(rule: AlertRule) -> list[str]:
    if rule.email_to.strip():
        return [part.strip() for part in rule.email_to.split(",") if part.strip()]
    return sorted(
        email
        for email in Membership.objects.filter(store=rule.store_id, role=Role.MERCHANT)
        .values_list("user__email", flat=True)
        .distinct()
        if email
    )


def alert_rule_check(*, rule: AlertRule, now: datetime | None = None) -> list[Alert]:
    """New alerts for this rule (one aggregate query over the window, per product)."""
    now = now or timezone.now()
    since = now - timedelta(days=rule.window_days)
    rows = Review.objects.filter(
        store_id=rule.store_id, created_at__gt=since, created_at__lte=now, scored_at__isnull=False
    )
    if rule.product_id:
        rows = rows.filter(product_id=rule.product_id)
    per_product = (
        rows.values("product_id", "product__name")
        .annotate(reviews=Count("id"), negative=Count("id", filter=Q(sentiment=Sentiment.NEGATIVE)))
        .filter(reviews__gte=rule.min_reviews)
        .order_by("product_id")
    )
    created = []
    for row in per_product:
        if row["negative"] / row["reviews"] <= rule.max_negative_share:
            continue
        with transaction.atomic():
            # Lock the rule so two checkers can't both fire for the same product.
            AlertRule.objects.select_for_update().filter(id=rule.id).first()
            recent = Alert.objects.filter(
                rule=rule, product_id=row["product_id"], triggered_at__gt=since
            )
            if recent.exists():
                continue
            share = row["negative"] / row["reviews"]
            message = (
                f"{row['product__name']}: {row['negative']} of {row['reviews']} reviews in the "
                f"last {rule.window_days} days are negative ({share:.0%}; rule: above "
                f"{rule.max_negative_share:.0%})"
            )[:300]
            recipients = _recipients(rule)
            alert = Alert.objects.create(
                rule=rule,
                store_id=rule.store_id,
                product_id=row["product_id"],
                triggered_at=now,
                reviews=row["reviews"],
                negative=row["negative"],
                message=message,
                emailed_to=", ".join(recipients)[:500],
            )
            if recipients:
                transaction.on_commit(lambda m=message, r=recipients: _email(rule, m, r))
            created.append(alert)
    return created


def _email(rule: AlertRule, message: str, recipients: list[str]) -> None:
    send_mail(
        subject=f"[ShopDesk] Review alert: {rule.name}",
        message=(
            f"{message}\n\nSee the dashboard: {settings.SITE_URL}/dashboard/{rule.store.slug}/\n"
        ),
        from_email=settings.DEFAULT_FROM_EMAIL,
        recipient_list=recipients,
    )


def alerts_check(*, now: datetime | None = None) -> list[Alert]:
    """Check every active rule of every store."""
    created: list[Alert] = []
    for rule in AlertRule.objects.filter(is_active=True).select_related("store"):
        created += alert_rule_check(rule=rule, now=now)
    return created
