"""Training a store's sentiment model on its star ratings, and promoting it when no worse."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import transaction

from webapp.mlops.models import ModelKind, ModelVersion
from webapp.mlops.selectors import model_version_live
from webapp.mlops.services import model_version_promote, model_version_register
from webapp.reviews.models import Review
from webapp.reviews.selectors import sentiment_datasets, sentiment_scorer_live
from webapp.reviews.services import reviews_request_scoring
from webapp.stores.models import Store

PROMOTION_METRIC = "macro_f1"
MIN_HELDOUT_PER_LABEL = 3


class SentimentTrainingError(Exception):
    """The store's reviews can't train a model yet; the message says why."""


@dataclass(frozen=True)
class SentimentTrainingResult:
    version: ModelVersion
    metrics: dict[str, Any]
    promoted: bool
    live_metrics: dict[str, Any] | None


def _report(scorer: Any, texts: list[str], labels: list[str]) -> dict[str, Any]:
    from nlp.metrics import classification_report
    from nlp.sentiment import LABELS

    predicted = [result.label for result in scorer.predict(texts)]
    return classification_report(labels, predicted, LABELS)


def sentiment_model_train(
    *,
    store: Store,
    max_seconds: float | None = None,
    max_epochs: int | None = None,
    progress: Callable[[Any], None] | None = None,
) -> SentimentTrainingResult:
    """Fine-tune on the store's rated reviews, register the version, and make it live when its
    held-out macro-F1 is at least that of whatever scores the store's reviews now: the live
    model, or VADER before the first one. Promotion queues every review for rescoring."""
    from nlp.sentiment import rating_label, sentiment_training_config, train_sentiment_classifier

    data = sentiment_datasets(store_id=store.id)
    total = len(data.train_texts) + len(data.heldout_texts)
    if total < settings.SENTIMENT_MIN_REVIEWS:
        raise SentimentTrainingError(
            f"{store.slug} has {total} reviews with text; training starts at "
            f"{settings.SENTIMENT_MIN_REVIEWS} (VADER scores them until then)."
        )
    heldout_labels = [rating_label(r) for r in data.heldout_ratings]
    train_labels = [rating_label(r) for r in data.train_ratings]
    for label in ("negative", "neutral", "positive"):
        if heldout_labels.count(label) < MIN_HELDOUT_PER_LABEL or train_labels.count(label) < 2:
            raise SentimentTrainingError(
                f"Too few {label} reviews (ratings {_stars(label)}) to train and evaluate on."
            )
    overrides: dict[str, Any] = {
        "max_seconds": max_seconds
        if max_seconds is not None
        else settings.SENTIMENT_TRAIN_MAX_SECONDS
    }
    if max_epochs is not None:
        overrides["max_epochs"] = max_epochs
    started = time.monotonic()
    model = train_sentiment_classifier(
        data.train_texts, data.train_ratings, sentiment_training_config(**overrides), progress
    )
    seconds = time.monotonic() - started
    # Judged as it will serve: with int8 layers when the workers load it that way.
    served = model.quantized() if settings.SENTIMENT_INT8 else model
    metrics = _report(served, data.heldout_texts, heldout_labels)
    metrics["int8"] = served is not model

    live_version = model_version_live(store_id=store.id, kind=ModelKind.SENTIMENT)
    live_name, live_scorer = sentiment_scorer_live(store_id=store.id)
    live_metrics = _report(live_scorer, data.heldout_texts, heldout_labels)
    live_metrics["scorer"] = live_name
    promoted = metrics[PROMOTION_METRIC] >= live_metrics[PROMOTION_METRIC]
    with transaction.atomic():
        version = model_version_register(
            store=store,
            kind=ModelKind.SENTIMENT,
            save=model.save,
            metrics=metrics,
            training_examples=len(data.train_texts),
            heldout_examples=len(data.heldout_texts),
            training_seconds=seconds,
            promotion={
                "metric": PROMOTION_METRIC,
                "candidate": metrics[PROMOTION_METRIC],
                "live": live_name,
                "live_version": live_version.version if live_version else None,
                "live_score": live_metrics[PROMOTION_METRIC],
                "promoted": promoted,
            },
        )
        if promoted:
            version = model_version_promote(version_id=version.id)
            ids = list(Review.objects.filter(store=store).values_list("id", flat=True))
            reviews_request_scoring(review_ids=ids)
    return SentimentTrainingResult(version, metrics, promoted, live_metrics)


def _stars(label: str) -> str:
    return {"negative": "1-2", "neutral": "3", "positive": "4-5"}[label]
