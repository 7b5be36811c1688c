"""Review sentiment: labels from star ratings, a lexicon baseline, a fine-tuned model, aspects.

A review gets a label (negative / neutral / positive), a score in [-1, 1] and a polarity per
aspect it talks about (quality, delivery, price, size/fit, customer service, packaging).

* ``LexiconSentiment``: VADER, for stores without enough star-rated reviews to train on.
* ``train_sentiment_classifier``: MiniLM fine-tuned on the store's own ratings (1-2 stars
  negative, 3 neutral, 4-5 positive; distant supervision), with the intent model's training
  machinery (validation split, early stopping, calibration) and an inverse-frequency weighted
  loss, because ratings lean heavily positive.
* ``aspect_polarities``: splits a review into clauses at punctuation and contrast words ("but",
  "although", ...), finds the aspects each clause names and scores the clause with VADER,
  falling back to the whole review's score where VADER sees no feeling. Lexicon scoring costs
  microseconds a clause, where the model would cost a forward pass each, so both scorers
  share it.

Django-free; the web app stores the results and picks the scorer per store.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from nlp.floor import DEFAULT_C_GRID, polar_accuracy
from nlp.intents import IntentClassifier, IntentTrainingConfig, train_intent_classifier
from nlp.metrics import classification_report
from nlp.sentiment_lexicon import polarity

NEGATIVE, NEUTRAL, POSITIVE = "negative", "neutral", "positive"
LABELS = (NEGATIVE, NEUTRAL, POSITIVE)
POLAR = (NEGATIVE, POSITIVE)  # complaints and praise: never to be called neutral
# VADER's customary cut-offs on its compound score.
LEXICON_NEUTRAL_BAND = 0.05

# Aspect -> word stems that name it (matched at a word start, lower case). Our own lists, tuned
# on the demo reviews: they name the thing, not the feeling, so the clause's polarity decides.
ASPECT_TERMS: dict[str, tuple[str, ...]] = {
    "quality": (
        "quality", "well made", "well-made", "build", "built", "sturdy", "solid", "flimsy",
        "durab", "broke", "broken", "break", "crack", "leak", "rust", "peel", "fray", "ripped",
        "tore", "torn", "stitch", "seam", "material", "fabric", "wobbl", "scratch", "chip",
        "faulty", "defect", "stopped working", "fell apart", "falling apart", "lasted", "last",
    ),
    "delivery": (
        "deliver", "shipping", "shipped", "dispatch", "courier", "parcel", "package", "arriv",
        "tracking", "postman", "depot", "transit", "on time", "took ages", "weeks to",
    ),
    "price": (
        "price", "priced", "pricey", "expensive", "cheap", "value", "worth", "money", "euro",
        "€", "cost", "bargain", "overpriced", "affordable", "deal",
    ),
    "size_fit": (
        "size", "sizing", "fit", "fits", "fitted", "too small", "too big", "too large", "tight",
        "loose", "narrow", "wide", "length", "snug", "roomy", "runs small", "runs large",
    ),
    "customer_service": (
        "customer service", "support", "service", "helpdesk", "replied", "reply", "response",
        "responded", "refund", "exchange", "return", "staff", "agent", "helpful", "email",
        "contacted", "ignored",
    ),
    "packaging": (
        "packaging", "packed", "packag", "box", "boxed", "wrapp", "gift wrap", "bubble wrap",
        "plastic bag", "envelope", "crushed", "dented box", "unboxing",
    ),
}  # fmt: skip
ASPECTS = tuple(ASPECT_TERMS)
_ASPECT_PATTERNS = {
    aspect: re.compile(
        "|".join(rf"(?<![\w]){re.escape(term)}" for term in sorted(terms, key=len, reverse=True))
    )
    for aspect, terms in ASPECT_TERMS.items()
}
_WORD_TAIL = re.compile(r"\w*")
_CONTRAST = r"(?:but|however|although|though|yet|except|whereas)"
_CLAUSE_SPLIT = re.compile(
    rf"(?<=[.!?;,])\s+(?:{_CONTRAST},?\s+)?|\n+|\s+{_CONTRAST},?\s+", re.IGNORECASE
)


def rating_label(rating: int) -> str:
    """Stars to a label: 1-2 negative, 3 neutral, 4-5 positive."""
    if not 1 <= rating <= 5:
        raise ValueError(f"rating {rating} is outside 1-5")
    return NEGATIVE if rating <= 2 else NEUTRAL if rating == 3 else POSITIVE


def label_for_score(score: float, band: float = LEXICON_NEUTRAL_BAND) -> str:
    return POSITIVE if score >= band else NEGATIVE if score <= -band else NEUTRAL


@dataclass(frozen=True)
class SentimentResult:
    """``score`` in [-1, 1] (P(positive) - P(negative) for the model, VADER's compound for the
    lexicon); ``aspects`` maps each aspect the text names to its clauses' mean polarity."""

    label: str
    score: float
    aspects: dict[str, float]


def clauses(text: str) -> list[str]:
    return [part.strip() for part in _CLAUSE_SPLIT.split(text) if part and part.strip()]


def aspect_polarities(text: str, overall: float = 0.0) -> dict[str, float]:
    """Each aspect the text names, with the mean polarity of the clauses naming it.

    A clause's polarity is its VADER score; a clause VADER finds no feeling in ("leaks after two
    weeks", "runs small") takes ``overall``, the whole review's score, instead.
    """
    found: dict[str, list[float]] = {}
    for clause in clauses(text):
        lowered = clause.lower()
        named = [aspect for aspect, pattern in _ASPECT_PATTERNS.items() if pattern.search(lowered)]
        if not named:
            continue
        value = polarity(clause)
        if abs(value) < LEXICON_NEUTRAL_BAND:
            value = overall
        for aspect in named:
            found.setdefault(aspect, []).append(value)
    return {aspect: round(float(np.mean(values)), 4) for aspect, values in found.items()}


def aspect_spans(text: str) -> list[tuple[int, int, str]]:
    """Where the text names an aspect: non-overlapping ``(start, end, aspect)``, in order."""
    found: list[tuple[int, int, str]] = []
    lowered = text.lower()
    for aspect, pattern in _ASPECT_PATTERNS.items():
        for match in pattern.finditer(lowered):
            # Stems ("deliver") light up the whole word ("delivery").
            tail = _WORD_TAIL.match(lowered, match.end())
            found.append((match.start(), tail.end() if tail else match.end(), aspect))
    spans: list[tuple[int, int, str]] = []
    for start, end, aspect in sorted(found, key=lambda span: (span[0], -span[1])):
        if not spans or start >= spans[-1][1]:
            spans.append((start, end, aspect))
    return spans


class LexiconSentiment:
    """VADER on the whole text; no training, the same for every store."""

    name = "vader"

    def predict(self, texts: Sequence[str]) -> list[SentimentResult]:
        results = []
        for text in texts:
            score = polarity(text)
            aspects = aspect_polarities(text, score)
            results.append(SentimentResult(label_for_score(score), round(score, 4), aspects))
        return results


class FineTunedSentiment:
    """A MiniLM classifier fine-tuned on star ratings (labels ``LABELS``)."""

    def __init__(self, classifier: IntentClassifier) -> None:
        missing = set(LABELS) - set(classifier.labels)
        if missing:
            raise ValueError(f"a sentiment model needs the labels {LABELS}; missing {missing}")
        self.classifier = classifier
        self.name = "minilm-sentiment"
        self._index = {label: i for i, label in enumerate(classifier.labels)}

    def predict(self, texts: Sequence[str], batch_size: int = 64) -> list[SentimentResult]:
        probs = self.classifier.predict_proba(texts, batch_size)
        results = []
        for text, row in zip(texts, probs, strict=True):
            score = float(row[self._index[POSITIVE]] - row[self._index[NEGATIVE]])
            label = self.classifier.labels[int(np.argmax(row))]
            results.append(SentimentResult(label, round(score, 4), aspect_polarities(text, score)))
        return results

    @property
    def floor(self) -> FineTunedSentiment | None:
        """The floor this model beat on validation, straight from training (else ``None``)."""
        floor = self.classifier.floor
        return None if floor is None else FineTunedSentiment(floor)

    def evaluate(self, texts: Sequence[str], labels: Sequence[str]) -> dict[str, Any]:
        """Accuracy, macro-F1, per-label figures and confusions, always taking the top label,
        and ``polar_accuracy`` (praise vs complaint)."""
        return sentiment_report(labels, [result.label for result in self.predict(texts)])

    def save(self, directory: Path) -> Path:
        return self.classifier.save(directory)

    @classmethod
    def load(
        cls, directory: Path, device: str | None = None, *, int8: bool = False
    ) -> FineTunedSentiment:
        model = cls(IntentClassifier.load(directory, device=device))
        return model.quantized() if int8 else model

    def quantized(self) -> FineTunedSentiment:
        """A copy whose Linear layers run in int8 (dynamic quantization, CPU only): ~1.7x the
        batch throughput on this 2-core machine for ~0.02 macro-F1 on the demo reviews
        (bench/README.md). On a GPU the model is returned as it is."""
        import torch

        classifier = self.classifier
        if classifier.device != "cpu":
            return self
        with warnings.catch_warnings():
            # torch marks torch.ao.quantization for removal; the pinned torch 2.13 still has it,
            # and a test fails the day an upgrade drops it.
            warnings.simplefilter("ignore", UserWarning)
            warnings.simplefilter("ignore", DeprecationWarning)
            network = torch.ao.quantization.quantize_dynamic(
                classifier.network, {torch.nn.Linear}, dtype=torch.qint8
            )
        quantized = classifier.replaced(network=network, meta={**classifier.meta, "int8": True})
        result = FineTunedSentiment(quantized)
        result.name = f"{self.name}-int8"
        return result


def sentiment_report(y_true: Sequence[str], y_pred: Sequence[str]) -> dict[str, Any]:
    """``nlp.metrics.classification_report`` over ``LABELS`` plus ``polar_accuracy``: on the
    reviews that are complaints or praise, the share labelled exactly so (neutral is wrong).
    The two measures every sentiment scorer is judged on."""
    report = classification_report(y_true, y_pred, LABELS)
    report["polar_accuracy"] = polar_accuracy(y_true, y_pred, POLAR)
    return report


def sentiment_training_config(**overrides: Any) -> IntentTrainingConfig:
    """The intent defaults with a class-weighted loss, no fallback gate (every review gets a
    label), candidates chosen on macro-F1 and praise-vs-complaint accuracy together, and every
    layer trained from the start: freezing the lower three for two epochs cost 5 points of
    praise-vs-complaint accuracy on the demo reviews (bench/README.md), where it cost intents
    nothing."""
    config = IntentTrainingConfig(
        class_weighted=True,
        familiarity_quantile=0.0,
        polar_labels=POLAR,
        freeze_layers=0,
        # Reviews are long and noisy next to chat messages: the floor also tries a stronger
        # regularisation (validation chooses), and a store whose reviews run past 64 tokens
        # trains and scores on up to its 99th-percentile length (15% of our own reviews are
        # longer: macro-F1 0.906 against 0.898 fine-tuned, for 1.5x the training time).
        floor_c_grid=(1.0, *DEFAULT_C_GRID),
        max_length_ceiling=256,
    )
    return replace(config, **overrides)


def train_sentiment_classifier(
    texts: Sequence[str],
    ratings: Sequence[int],
    config: IntentTrainingConfig | None = None,
    progress: Any = None,
) -> FineTunedSentiment:
    """Fine-tune on review texts labelled by their stars; every label needs two examples."""
    labels = [rating_label(int(r)) for r in ratings]
    return train_sentiment_on_labels(texts, labels, config, progress)


def train_sentiment_on_labels(
    texts: Sequence[str],
    labels: Sequence[str],
    config: IntentTrainingConfig | None = None,
    progress: Any = None,
) -> FineTunedSentiment:
    """Fine-tune on texts labelled ``LABELS`` (already derived from ratings)."""
    missing = set(LABELS) - set(labels)
    if missing:
        raise ValueError(f"no reviews labelled {', '.join(sorted(missing))} to learn from")
    classifier = train_intent_classifier(
        texts, list(labels), config or sentiment_training_config(), progress
    )
    return FineTunedSentiment(classifier)
