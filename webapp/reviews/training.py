"""The sentiment model's side of training: star-rated reviews as labels (1-2 negative, 3
neutral, 4-5 positive), judged as the workers will serve it (int8 on a CPU)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from django.conf import settings

from nlp.hygiene import Conflict
from webapp.mlops.models import ModelKind, ModelVersion
from webapp.mlops.runtime import ArtefactDamaged, load_verified
from webapp.mlops.selectors import model_version_live
from webapp.mlops.training import LabelledRow, TrainingData, TrainingDataError
from webapp.reviews.models import Review
from webapp.reviews.selectors import review_heldout, sentiment_baseline
from webapp.stores.models import Store

MIN_HELDOUT_PER_LABEL = 3


class SentimentTrainer:
    kind = ModelKind.SENTIMENT

    def data(self, store: Store) -> TrainingData:
        from nlp.sentiment import rating_label

        reviews = Review.objects.filter(store=store).only("title", "body", "rating").order_by("id")
        rows = [
            LabelledRow(
                review.id, review.text, rating_label(review.rating), review_heldout(review.id)
            )
            for review in reviews
            if review.text
        ]
        return TrainingData(rows, explicit_evaluation=False, counts={"reviews": len(rows)})

    def check(self, store: Store, train_labels: list[str], evaluation_labels: list[str]) -> None:
        total = len(train_labels) + len(evaluation_labels)
        if total < settings.SENTIMENT_MIN_REVIEWS:
            raise TrainingDataError(
                f"{store.slug} has {total} reviews with text; training starts at "
                f"{settings.SENTIMENT_MIN_REVIEWS} (VADER scores them until then)."
            )
        for label in ("negative", "neutral", "positive"):
            if (
                evaluation_labels.count(label) < MIN_HELDOUT_PER_LABEL
                or train_labels.count(label) < 2
            ):
                raise TrainingDataError(
                    f"Too few {label} reviews (ratings {_stars(label)}) to train and evaluate on."
                )

    def config(self, overrides: dict[str, Any]) -> Any:
        from nlp.sentiment import sentiment_training_config

        return sentiment_training_config(
            **{"max_seconds": settings.SENTIMENT_TRAIN_MAX_SECONDS, **overrides}
        )

    def fit(
        self, texts: list[str], labels: list[str], config: Any, progress: Callable[[Any], None]
    ) -> Any:
        from nlp.sentiment import train_sentiment_on_labels

        return train_sentiment_on_labels(texts, labels, config, progress)

    def evaluate(self, model: Any, texts: list[str], labels: list[str]) -> dict[str, Any]:
        from nlp.sentiment import FineTunedSentiment, sentiment_report

        # Judged as it will serve: with int8 layers when the workers load it that way.
        served = model
        if (
            isinstance(model, FineTunedSentiment)
            and settings.SENTIMENT_INT8
            and not model.classifier.meta.get("int8")
        ):
            served = model.quantized()
        predicted = [result.label for result in served.predict(texts)]
        metrics = sentiment_report(labels, predicted)
        if isinstance(served, FineTunedSentiment):
            metrics["int8"] = bool(served.classifier.meta.get("int8"))
        return metrics

    def score(self, metrics: dict[str, Any]) -> float:
        return float(metrics["macro_f1"])

    def measures(self, metrics: dict[str, Any]) -> dict[str, float]:
        """Three-class macro-F1, and praise vs complaint (a 1-star review called neutral is
        wrong): a model must not lose to VADER or its floor on either."""
        return {
            "macro_f1": float(metrics["macro_f1"]),
            "polar_accuracy": float(metrics["polar_accuracy"]),
        }

    def baselines(self) -> list[tuple[str, Any]]:
        return [sentiment_baseline()]

    def floor_of(self, model: Any) -> Any:
        return getattr(model, "floor", None)

    def serving(self, store: Store) -> tuple[str, ModelVersion | None, Any] | None:
        """The live model as the workers serve it, loaded for this run only; or VADER before
        the first (a first model must beat the lexicon) or when the live files are damaged."""
        from nlp.sentiment import FineTunedSentiment

        version = model_version_live(store_id=store.id, kind=self.kind)
        if version is not None:
            int8 = settings.SENTIMENT_INT8
            try:
                model = load_verified(
                    version, lambda path: FineTunedSentiment.load(path, int8=int8)
                )
            except ArtefactDamaged:
                version = None
            else:
                return f"sentiment v{version.version}", version, model
        name, baseline = sentiment_baseline()
        return name, None, baseline

    def save(self, model: Any, directory: Path) -> Any:
        return model.save(directory)

    def report_conflicts(self, store: Store, conflicts: list[Conflict[Any]]) -> None:
        """One review text rated into two classes is noise, not a labelling mistake someone
        can fix: it is left out and counted in the run's data counts."""


def rescore_on_promotion(store_id: int, kind: str) -> None:
    """A new live sentiment model (promoted or rolled back to) rescores every review."""
    if kind != ModelKind.SENTIMENT:
        return
    from webapp.reviews.services import reviews_request_scoring

    ids = list(Review.objects.filter(store_id=store_id).values_list("id", flat=True))
    reviews_request_scoring(review_ids=ids)


def _stars(label: str) -> str:
    return {"negative": "1-2", "neutral": "3", "positive": "4-5"}[label]
