"""Writes for reviews: one at a time (API, admin) or many (merchant imports, the demo)."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime
from kombu.exceptions import OperationalError as KombuOperationalError

from webapp.catalog.models import Product
from webapp.common.importing import (
    ImportReport,
    Record,
    RowError,
    RowInvalid,
    read_records,
    run_import,
    text_field,
)
from webapp.reviews.models import (
    MAX_BODY_CHARS,
    MAX_TITLE_CHARS,
    Aspect,
    Review,
    ReviewAspect,
    ReviewSource,
)
from webapp.reviews.selectors import sentiment_scorer_live
from webapp.stores.models import Store

# Clocks differ between shop systems; a review dated a little ahead is accepted.
FUTURE_TOLERANCE = timedelta(days=1)
# Fields whose change makes the stored sentiment stale.
_TEXT_FIELDS = ("title", "body")
# Reviews per scoring task. Measured by bench/sentiment through a real worker on this 2-core
# machine, a task of 64 (read, score, aspects, write) takes ~0.1 s with VADER (659 reviews/s)
# and ~0.4 s with the int8 fine-tuned MiniLM (166 reviews/s; 212/s with two workers), so a
# task stays far inside its 120 s limit and a batch redelivered after a crash repeats well
# under a second of work.
logger = logging.getLogger(__name__)

SCORE_BATCH = 64


def rating_clean(raw: Any) -> int:
    """1-5 stars from ``4``, ``"4"`` or ``"4.0"``; anything else is a clear error."""
    text = str(raw).strip() if raw is not None else ""
    if not text:
        raise RowInvalid("rating is required")
    try:
        value = float(text.replace(",", "."))
    except ValueError:
        raise RowInvalid(f"rating {raw!r} is not a number") from None
    if not value.is_integer() or not 1 <= value <= 5:
        raise RowInvalid(f"rating {raw!r} must be a whole number of stars from 1 to 5")
    return int(value)


def created_at_clean(raw: Any, *, now: datetime | None = None) -> datetime:
    """An ISO date or date-time (naive ones are UTC); empty means now."""
    now = now or timezone.now()
    text = str(raw).strip() if raw is not None else ""
    if not text:
        return now
    try:
        day = parse_date(text)  # a bare date is taken as its noon, so no zone shifts its day
        moment = datetime.combine(day, time(12, 0)) if day else parse_datetime(text)
    except ValueError:
        moment = None
    if moment is None:
        raise RowInvalid(f"created_at {raw!r} is not a date (use 2026-05-31 or ISO 8601)")
    if timezone.is_naive(moment):
        moment = moment.replace(tzinfo=UTC)
    if moment > now + FUTURE_TOLERANCE:
        raise RowInvalid(f"created_at {raw!r} is in the future")
    return moment


def review_upsert(
    *, store: Store, product: Product, external_id: str, fields: dict[str, Any]
) -> tuple[Review, str]:
    """Create the review, or update the store's review with this ``external_id`` (when given).
    Returns it and ``created`` / ``updated`` / ``unchanged``; a changed text clears the
    sentiment so that it is scored again."""
    if product.store_id != store.id:
        raise RowInvalid(f"product {product.sku} belongs to another store")
    if not (fields.get("title") or fields.get("body")):
        raise RowInvalid("a review needs a title or a body")
    existing = (
        Review.objects.select_for_update().filter(store=store, external_id=external_id).first()
        if external_id
        else None
    )
    if existing is None:
        try:
            with transaction.atomic():  # a savepoint: a lost race leaves the outer one usable
                review = Review.objects.create(
                    store=store, product=product, external_id=external_id, **fields
                )
            return review, "created"
        except IntegrityError:
            if not external_id:
                raise
            # Another request created this external_id since we looked: update that one.
            existing = Review.objects.select_for_update().get(store=store, external_id=external_id)
    values = {"product_id": product.id, **fields}
    changed = [name for name, value in values.items() if getattr(existing, name) != value]
    if not changed:
        return existing, "unchanged"
    for name in changed:
        setattr(existing, name, values[name])
    if any(name in _TEXT_FIELDS for name in changed):
        existing.sentiment, existing.sentiment_score, existing.aspects = "", None, {}
        existing.scored_at, existing.scored_by = None, ""
        ReviewAspect.objects.filter(review=existing).delete()
    existing.save()
    ReviewAspect.objects.filter(review=existing).update(
        product_id=existing.product_id, created_at=existing.created_at
    )
    return existing, "updated"


def reviews_import(
    *,
    store: Store,
    path: Path,
    column_map: dict[str, str] | None = None,
    fmt: str | None = None,
    source: str = ReviewSource.IMPORT,
) -> ImportReport:
    """Import ``sku, rating, title, body, author, created_at, external_id`` rows. Products are
    matched by sku within the store; an unknown sku, a bad rating or date, or a repeated
    external id rejects its row with the line number, and the good rows are kept."""
    return reviews_import_records(
        store=store, records=read_records(path, fmt=fmt, column_map=column_map), source=source
    )


def reviews_import_records(
    *, store: Store, records: Iterable[Record | RowError], source: str
) -> ImportReport:
    """``reviews_import`` for records already read (the demo builds its own)."""
    products = {p.sku: p for p in Product.objects.filter(store=store)}
    seen: dict[str, int] = {}
    now = timezone.now()

    def apply(record: Record) -> str:
        values = record.values
        sku = text_field(values, "sku", required=True, max_length=64)
        product = products.get(sku)
        if product is None:
            raise RowInvalid(f"unknown sku {sku!r}")
        external_id = text_field(values, "external_id", required=False, max_length=100)
        if external_id in seen:
            raise RowInvalid(f"external_id {external_id!r} repeats line {seen[external_id]}")
        fields = {
            "rating": rating_clean(values.get("rating")),
            "title": text_field(values, "title", required=False, max_length=MAX_TITLE_CHARS),
            "body": text_field(values, "body", required=False, max_length=MAX_BODY_CHARS),
            "author_name": text_field(values, "author", required=False, max_length=100),
            "created_at": created_at_clean(values.get("created_at"), now=now),
            "source": source,
        }
        review, outcome = review_upsert(
            store=store, product=product, external_id=external_id, fields=fields
        )
        if external_id:
            seen[external_id] = record.line
        if review.scored_at is None:
            to_score.append(review.id)
        return outcome

    to_score: list[int] = []
    report = run_import(iter(records), apply)
    reviews_request_scoring(review_ids=to_score)
    return report


def reviews_request_scoring(*, review_ids: list[int], force: bool = False) -> None:
    """Queue scoring tasks of ``SCORE_BATCH`` reviews each, once the transaction commits."""
    from workers.tasks import score_reviews

    ids = sorted(set(review_ids))
    batches = [ids[i : i + SCORE_BATCH] for i in range(0, len(ids), SCORE_BATCH)]

    def enqueue() -> None:
        if score_reviews.app.conf.task_always_eager:
            for batch in batches:
                score_reviews.delay(batch, force)
            return
        for number, batch in enumerate(batches):
            try:
                score_reviews.apply_async(args=[batch, force], retry=True, retry_policy=_PUBLISH)
            except _BROKER_DOWN as exc:
                # The reviews are saved; the periodic sweep queues them once the broker is back.
                left = sum(len(b) for b in batches[number:])
                logger.warning("broker unreachable (%s): %d review(s) left to the sweep", exc, left)
                return

    if batches:
        transaction.on_commit(enqueue)


# A request that saved reviews waits at most ~1 s for a broker that is down, then answers.
_PUBLISH = {"max_retries": 2, "interval_start": 0.2, "interval_step": 0.4, "interval_max": 0.5}
_BROKER_DOWN = (KombuOperationalError, ConnectionError, OSError)
SWEEP_LIMIT = 10_000


def reviews_sweep_unscored(*, now: datetime | None = None) -> int:
    """Queue scoring for every review left unscored past ``REVIEW_SWEEP_GRACE_SECONDS`` (beat
    runs it every few minutes); the number queued. Its task was lost (the broker was down when
    it was saved) or still waits behind a long backlog, where the duplicate finds the review
    scored and skips it."""
    from django.conf import settings

    cutoff = (now or timezone.now()) - timedelta(seconds=settings.REVIEW_SWEEP_GRACE_SECONDS)
    ids = list(
        Review.objects.filter(scored_at__isnull=True, updated_at__lt=cutoff)
        .order_by("updated_at")
        .values_list("id", flat=True)[:SWEEP_LIMIT]
    )
    if ids:
        logger.info("sweep: %d unscored review(s) queued again", len(ids))
        with transaction.atomic():
            reviews_request_scoring(review_ids=ids)
    return len(ids)


@dataclass(frozen=True)
class ScoreResult:
    scored: int
    skipped: int


def reviews_score(*, review_ids: list[int], force: bool = False) -> ScoreResult:
    """Score these reviews with their store's live scorer and store label, score and aspects.

    Safe to run twice: a review already scored by the same scorer is skipped (unless ``force``),
    and every write replaces the review's own fields, so nothing is counted twice. The model
    runs outside the transaction; the write re-checks each row under a lock and skips one whose
    text changed meanwhile (its new text has its own scoring task queued).
    """
    scored = skipped = 0
    rows = list(Review.objects.filter(id__in=review_ids).order_by("store_id", "id"))
    skipped += len(set(review_ids)) - len(rows)  # deleted since they were queued
    by_store: dict[int, list[Review]] = {}
    for review in rows:
        by_store.setdefault(review.store_id, []).append(review)
    for store_id, reviews in by_store.items():
        name, scorer = sentiment_scorer_live(store_id=store_id)
        todo = [r for r in reviews if force or r.scored_at is None or r.scored_by != name]
        skipped += len(reviews) - len(todo)
        if not todo:
            continue
        results = scorer.predict([review.text for review in todo])
        texts = {review.id: review.text for review in todo}
        now = timezone.now()
        with transaction.atomic():
            locked = {
                r.id: r
                for r in Review.objects.select_for_update()
                .filter(id__in=list(texts))
                .order_by("id")
            }
            changed = []
            for review, result in zip(todo, results, strict=True):
                current = locked.get(review.id)
                if current is None or current.text != texts[review.id]:
                    skipped += 1
                    continue
                current.sentiment = result.label
                current.sentiment_score = result.score
                current.aspects = result.aspects
                current.scored_at = now
                current.scored_by = name
                changed.append(current)
            Review.objects.bulk_update(
                changed, ["sentiment", "sentiment_score", "aspects", "scored_at", "scored_by"]
            )
            ReviewAspect.objects.filter(review__in=changed).delete()
            ReviewAspect.objects.bulk_create(
                ReviewAspect(
                    review=review,
                    store_id=review.store_id,
                    product_id=review.product_id,
                    aspect=aspect,
                    polarity=value,
                    created_at=review.created_at,
                )
                for review in changed
                for aspect, value in review.aspects.items()
                if aspect in Aspect.values
            )
            scored += len(changed)
    return ScoreResult(scored=scored, skipped=skipped)
