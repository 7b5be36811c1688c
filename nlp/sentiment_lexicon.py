"""VADER lexicon polarity: the sentiment signal before a store has its own fine-tuned model.

The analyzer reads its ~7,500-word lexicon from disk (~40 ms) and holds it in memory, so it is
built on first use, once per process, behind a lock; ``import nlp.sentiment_lexicon`` costs
nothing.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

_lock = threading.Lock()
_analyzer: SentimentIntensityAnalyzer | None = None


def analyzer() -> SentimentIntensityAnalyzer:
    """The process-wide VADER analyzer, built on first call (thread-safe)."""
    global _analyzer
    if _analyzer is None:
        with _lock:
            if _analyzer is None:
                from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

                _analyzer = SentimentIntensityAnalyzer()
    return _analyzer


def polarity(text: str) -> float:
    """VADER compound score in [-1, 1]: below about -0.5 is clearly negative, 0 is neutral.

    Analysis only reads the shared lexicon, so concurrent calls are safe.
    """
    if not text.strip():
        return 0.0
    return float(analyzer().polarity_scores(text)["compound"])
