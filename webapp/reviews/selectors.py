"""Reads for reviews: which sentiment scorer a store uses."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import TYPE_CHECKING

from django.conf import settings

from webapp.mlops.models import ModelKind
from webapp.mlops.runtime import live_models
from webapp.mlops.selectors import model_version_live
from webapp.reviews.models import Review

if TYPE_CHECKING:
    from nlp.sentiment import FineTunedSentiment, LexiconSentiment

_lexicon: LexiconSentiment | None = None


def sentiment_baseline() -> tuple[str, LexiconSentiment]:
    """VADER, what scores a store's reviews before its first model (``vader``)."""
    return _vader()


def sentiment_scorer_live(*, store_id: int) -> tuple[str, FineTunedSentiment | LexiconSentiment]:
    """The store's live fine-tuned sentiment model (loaded once per process) and its name
    (``sentiment v3``), or the VADER baseline (``vader``) before the store has one."""
    from nlp.sentiment import FineTunedSentiment

    version = model_version_live(store_id=store_id, kind=ModelKind.SENTIMENT)
    if version is None:
        return _vader()
    int8 = settings.SENTIMENT_INT8
    # Named after the version actually loaded: if the live one's files are refused, the
    # process keeps scoring with the one it has, and says so in ``scored_by``.
    loaded = live_models.serving(version, lambda path: FineTunedSentiment.load(path, int8=int8))
    return f"sentiment v{loaded.version}", loaded.model


def _vader() -> tuple[str, LexiconSentiment]:
    global _lexicon
    from nlp.sentiment import LexiconSentiment

    _lexicon = _lexicon or LexiconSentiment()
    return _lexicon.name, _lexicon


@dataclass(frozen=True)
class SentimentDatasets:
    train_texts: list[str]
    train_ratings: list[int]
    heldout_texts: list[str]
    heldout_ratings: list[int]


def review_heldout(review_id: int) -> bool:
    """Whether a review is in the stable ``SENTIMENT_HELDOUT_PERCENT`` share held out (the
    first training freezes these into the evaluation set)."""
    digest = hashlib.sha256(f"review:{review_id}".encode()).hexdigest()
    return int(digest[:8], 16) % 100 < settings.SENTIMENT_HELDOUT_PERCENT


def sentiment_datasets(*, store_id: int) -> SentimentDatasets:
    """The store's reviews with text, split by a stable hash of the review id into training and
    held-out sets (``SENTIMENT_HELDOUT_PERCENT``): the same reviews are held out on every run,
    so a candidate and the live model are compared on the same ones."""
    data = SentimentDatasets([], [], [], [])
    rows = Review.objects.filter(store_id=store_id).only("title", "body", "rating").order_by("id")
    for review in rows:
        if not review.text:
            continue
        if review_heldout(review.id):
            data.heldout_texts.append(review.text)
            data.heldout_ratings.append(review.rating)
        else:
            data.train_texts.append(review.text)
            data.train_ratings.append(review.rating)
    return data
