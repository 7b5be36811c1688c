"""Reads for reviews: which sentiment scorer a store uses."""

from __future__ import annotations

from typing import TYPE_CHECKING

from webapp.mlops.models import ModelKind
from webapp.mlops.runtime import live_models
from webapp.mlops.selectors import model_version_live

if TYPE_CHECKING:
    from nlp.sentiment import FineTunedSentiment, LexiconSentiment

_lexicon: LexiconSentiment | None = None


def sentiment_scorer_live(*, store_id: int) -> tuple[str, FineTunedSentiment | LexiconSentiment]:
    """The store's live fine-tuned sentiment model (loaded once per process) and its name
    (``sentiment v3``), or the VADER baseline (``vader``) before the store has one."""
    global _lexicon
    from nlp.sentiment import FineTunedSentiment, LexiconSentiment

    version = model_version_live(store_id=store_id, kind=ModelKind.SENTIMENT)
    if version is None:
        _lexicon = _lexicon or LexiconSentiment()
        return _lexicon.name, _lexicon
    return f"sentiment v{version.version}", live_models.get(version, FineTunedSentiment.load)
