"""What a worker process loads before its first batch: every store's live sentiment model."""

from __future__ import annotations


def warm_sentiment_models() -> None:
    from webapp.mlops.models import ModelKind, ModelVersion, VersionState
    from webapp.mlops.runtime import ArtefactDamaged
    from webapp.reviews.selectors import sentiment_scorer_live

    live = ModelVersion.objects.filter(kind=ModelKind.SENTIMENT, state=VersionState.LIVE)
    for store_id in live.order_by("store_id").values_list("store_id", flat=True):
        try:
            _, scorer = sentiment_scorer_live(store_id=store_id)
        except ArtefactDamaged:
            continue  # logged by the runtime; the worker keeps the scorer it has
        scorer.predict(["Arrived quickly and works well."])
