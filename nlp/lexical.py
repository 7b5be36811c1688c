"""Lexical features beside the embeddings: TF-IDF over word 1-2-grams and in-word character
2-5-grams, for the floor's linear head (``nlp.floor``).

A sentence embedding blurs the words that decide some labels: a store's own product names,
model numbers, "refund" against "return", or the "not" in "not worth it". Word and character
n-grams keep them, and a linear model on both (embeddings and n-grams) beats either alone on
every set in ``bench.intents`` / ``bench.sentiment``. This is that feature extractor, written
for serving: numpy only, a frozen vocabulary, one message in well under a millisecond.

Weights follow the usual recipe: sublinear term frequency (``1 + ln tf``), smoothed idf
(``ln((1 + n) / (1 + df)) + 1``), each block (words, characters) L2-normalised on its own.
The vocabulary keeps the ``max_features`` n-grams seen in the most texts (ties by the n-gram).

Django-free and torch-free.
"""

from __future__ import annotations

import itertools
import json
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

WORD = re.compile(r"(?u)\b\w\w+\b")
MAX_FEATURES = 50_000
SPACE = re.compile(r"\s+")
_CHAR_SIZES = (2, 3, 4, 5)


def _word_grams(text: str) -> list[str]:
    words = WORD.findall(text)
    return words + [f"{a} {b}" for a, b in itertools.pairwise(words)]


def _char_grams(text: str) -> list[str]:
    grams = []
    for word in SPACE.split(text):
        if not word:
            continue
        padded = f" {word} "
        for size in _CHAR_SIZES:
            if len(padded) < size:
                break
            grams += [padded[i : i + size] for i in range(len(padded) - size + 1)]
    return grams


def _blocks(text: str) -> tuple[list[str], list[str]]:
    lowered = text.lower()
    return [f"w:{g}" for g in _word_grams(lowered)], [f"c:{g}" for g in _char_grams(lowered)]


@dataclass(frozen=True)
class SparseRows:
    """Rows of a sparse matrix in CSR form: row ``i`` is ``data[indptr[i]:indptr[i+1]]`` at
    columns ``indices[...]``; ``width`` columns."""

    indptr: np.ndarray
    indices: np.ndarray
    data: np.ndarray
    width: int

    def __len__(self) -> int:
        return len(self.indptr) - 1

    def rows(self, which: Sequence[int]) -> SparseRows:
        """The rows ``which``, in that order."""
        starts, ends = self.indptr[:-1][list(which)], self.indptr[1:][list(which)]
        parts = [np.arange(s, e) for s, e in zip(starts, ends, strict=True)]
        taken = np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)
        indptr = np.concatenate([[0], np.cumsum(ends - starts)]).astype(np.int64)
        return SparseRows(indptr, self.indices[taken], self.data[taken], self.width)

    def torch(self, dtype: Any = None) -> Any:
        """A ``torch`` sparse COO tensor (for ``torch.sparse.mm``)."""
        import torch

        rows = np.repeat(np.arange(len(self)), np.diff(self.indptr))
        index = torch.as_tensor(np.vstack([rows, self.indices]), dtype=torch.long)
        values = torch.as_tensor(self.data, dtype=dtype or torch.float64)
        shape = (len(self), self.width)
        return torch.sparse_coo_tensor(index, values, shape, check_invariants=False).coalesce()

    def dot(self, weight: np.ndarray) -> np.ndarray:
        """``self @ weight.T`` for a dense ``weight`` of shape ``(k, width)``: ``(n, k)``."""
        out = np.zeros((len(self), weight.shape[0]), dtype=np.float64)
        if not len(self.data):
            return out
        contributions = weight[:, self.indices].T.astype(np.float64) * self.data[:, None]
        filled = np.flatnonzero(np.diff(self.indptr))
        out[filled] = np.add.reduceat(contributions, self.indptr[filled], axis=0)
        return out


class LexicalFeatures:
    """``fit(texts)`` learns the vocabulary and idf; ``transform(texts)`` gives ``SparseRows``.
    ``to_json`` / ``from_json`` carry a fitted extractor inside a saved model."""

    def __init__(self, vocabulary: Sequence[str], idf: Sequence[float]) -> None:
        if len(vocabulary) != len(idf):
            raise ValueError(f"{len(vocabulary)} n-grams but {len(idf)} idf weights")
        self.vocabulary: tuple[str, ...] = tuple(vocabulary)
        self.idf = np.asarray(idf, dtype=np.float64)
        self._index = {gram: i for i, gram in enumerate(self.vocabulary)}

    @property
    def width(self) -> int:
        return len(self.vocabulary)

    @classmethod
    def fit(cls, texts: Iterable[str], max_features: int = MAX_FEATURES) -> LexicalFeatures:
        texts = list(texts)
        df: Counter[str] = Counter()
        for text in texts:
            words, chars = _blocks(text)
            df.update(set(words))
            df.update(set(chars))
        kept = sorted(df.items(), key=lambda item: (-item[1], item[0]))[:max_features]
        vocabulary = sorted(gram for gram, _ in kept)
        n = len(texts)
        idf = [float(np.log((1 + n) / (1 + df[gram])) + 1.0) for gram in vocabulary]
        return cls(vocabulary, idf)

    def transform(self, texts: Sequence[str]) -> SparseRows:
        indptr, indices, data, total = [0], [], [], 0
        for text in texts:
            for block in _blocks(text):
                counts = Counter(self._index[g] for g in block if g in self._index)
                if not counts:
                    continue
                columns = np.fromiter(counts.keys(), dtype=np.int64, count=len(counts))
                tf = np.fromiter(counts.values(), dtype=np.float64, count=len(counts))
                values = (1.0 + np.log(tf)) * self.idf[columns]
                values /= np.linalg.norm(values)
                indices.append(columns)
                data.append(values)
                total += len(columns)
            indptr.append(total)
        return SparseRows(
            np.asarray(indptr, dtype=np.int64),
            np.concatenate(indices) if indices else np.zeros(0, dtype=np.int64),
            np.concatenate(data) if data else np.zeros(0, dtype=np.float64),
            self.width,
        )

    def to_json(self) -> str:
        return json.dumps({"vocabulary": list(self.vocabulary), "idf": self.idf.tolist()})

    @classmethod
    def from_json(cls, text: str) -> LexicalFeatures:
        payload = json.loads(text)
        return cls(payload["vocabulary"], payload["idf"])


LEXICAL_VOCABULARY_FILE = "lexical.json"
LEXICAL_WEIGHT_FILE = "lexical.safetensors"


@dataclass(frozen=True)
class LexicalHead:
    """The lexical half of a floor's head: the extractor and its weights ``(n_labels, width)``;
    a model's logits are its embedding head's plus ``logits(texts)``."""

    features: LexicalFeatures
    weight: np.ndarray

    def logits(self, texts: Sequence[str]) -> np.ndarray:
        return self.features.transform(texts).dot(self.weight)

    def save(self, directory: Path) -> None:
        from safetensors.numpy import save_file

        (directory / LEXICAL_VOCABULARY_FILE).write_text(self.features.to_json())
        weight = np.ascontiguousarray(self.weight, dtype=np.float32)
        save_file({"weight": weight}, str(directory / LEXICAL_WEIGHT_FILE))

    @classmethod
    def load(cls, directory: Path) -> LexicalHead | None:
        """The saved lexical head, or ``None`` for a model without one."""
        from safetensors.numpy import load_file

        if not (directory / LEXICAL_VOCABULARY_FILE).exists():
            return None
        features = LexicalFeatures.from_json((directory / LEXICAL_VOCABULARY_FILE).read_text())
        weight = load_file(str(directory / LEXICAL_WEIGHT_FILE))["weight"]
        if weight.shape[1] != features.width:
            raise ValueError(f"{directory}: lexical weights do not match the vocabulary")
        return cls(features, weight)
