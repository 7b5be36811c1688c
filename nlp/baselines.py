"""A strong classical baseline for intents: TF-IDF (word 1-2-grams + char_wb 2-5-grams) and a
class-balanced logistic regression, C tuned on a stratified validation split.

It trains in seconds and predicts in ~1 ms, so it is the bar the fine-tuned model must clear
in ``bench/intents.py``. scikit-learn is a dev-only dependency, imported inside methods.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from nlp.metrics import classification_report

C_GRID = (1.0, 3.0, 10.0, 30.0, 100.0)


class TfidfLogRegIntentBaseline:
    """``fit(texts, labels)`` then ``predict`` / ``predict_proba`` (``(n, n_labels)`` float32,
    columns in ``labels`` order). ``chosen_c`` and ``validation_macro_f1`` record the tuning."""

    def __init__(
        self, *, c_grid: Sequence[float] = C_GRID, val_fraction: float = 0.15, seed: int = 13
    ) -> None:
        self.c_grid = tuple(c_grid)
        self.val_fraction = val_fraction
        self.seed = seed
        self.labels: tuple[str, ...] = ()
        self.chosen_c: float | None = None
        self.validation_macro_f1: dict[float, float] = {}
        self._pipeline: Any = None

    def _make(self, c: float) -> Any:
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import FeatureUnion, Pipeline

        features = FeatureUnion(
            [
                ("words", TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, lowercase=True)),
                (
                    "chars",
                    TfidfVectorizer(
                        analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True, lowercase=True
                    ),
                ),
            ]
        )
        model = LogisticRegression(C=c, class_weight="balanced", max_iter=2000)
        return Pipeline([("features", features), ("model", model)])

    def fit(self, texts: Sequence[str], labels: Sequence[str]) -> TfidfLogRegIntentBaseline:
        """Pick C by validation macro-F1 (ties: the smaller C), then refit on all examples."""
        from nlp.intents import stratified_split

        self.labels = tuple(sorted(set(labels)))
        train, val = stratified_split(labels, self.val_fraction, self.seed)
        self.validation_macro_f1 = {}
        if val and len(self.c_grid) > 1:
            for c in self.c_grid:
                pipeline = self._make(c).fit([texts[i] for i in train], [labels[i] for i in train])
                predicted = list(pipeline.predict([texts[i] for i in val]))
                report = classification_report([labels[i] for i in val], predicted, self.labels)
                self.validation_macro_f1[c] = report["macro_f1"]
            self.chosen_c = max(self.c_grid, key=lambda c: (self.validation_macro_f1[c], -c))
        else:
            self.chosen_c = self.c_grid[0]
        self._pipeline = self._make(self.chosen_c).fit(list(texts), list(labels))
        return self

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        if self._pipeline is None:
            raise RuntimeError("call fit() first")
        probs = self._pipeline.predict_proba(list(texts))
        classes = list(self._pipeline.classes_)
        columns = [classes.index(label) for label in self.labels]
        return np.asarray(probs[:, columns], dtype=np.float32)

    def predict(self, texts: Sequence[str]) -> list[str]:
        probs = self.predict_proba(texts)
        return [self.labels[i] for i in probs.argmax(axis=1)]
