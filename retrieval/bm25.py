"""Okapi BM25 over short texts: the lexical baseline, and the lexical half of hybrid search."""

from __future__ import annotations

import math
import re
from collections import Counter, defaultdict
from collections.abc import Sequence

import numpy as np

_TOKEN = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")
# Very common words carry no signal in shopper questions and only slow scoring down.
STOPWORDS = frozenset(
    "a an and are as at be but by can could do does for from had has have how i if in is it "
    "its me my of on or our so than that the their them then there these this to was we were "
    "what when where which who why will with would you your".split()
)


def tokenize(text: str) -> list[str]:
    """Lower-case word tokens without stopwords, with a light plural/suffix folding."""
    tokens = []
    for token in _TOKEN.findall(text.lower()):
        token = token.split("'")[0]
        if token in STOPWORDS:
            continue
        tokens.append(_fold(token))
    return tokens


def _fold(token: str) -> str:
    for suffix, keep in (("ies", "y"), ("ing", ""), ("es", ""), ("s", "")):
        if len(token) > len(suffix) + 3 and token.endswith(suffix):
            return token[: -len(suffix)] + keep
    return token


class BM25:
    """Okapi BM25 with the usual ``k1``/``b``; scores every document for a query.

    Postings are plain dicts: for the few thousand chunks of one store, scoring a query touches
    only the documents that share a term and takes well under a millisecond.
    """

    def __init__(self, texts: Sequence[str], *, k1: float = 1.5, b: float = 0.75) -> None:
        self.k1 = k1
        self.b = b
        self.size = len(texts)
        self._postings: dict[str, list[tuple[int, int]]] = defaultdict(list)
        lengths = np.zeros(self.size, dtype=np.float32)
        for doc_index, text in enumerate(texts):
            counts = Counter(tokenize(text))
            lengths[doc_index] = sum(counts.values())
            for term, count in counts.items():
                self._postings[term].append((doc_index, count))
        self._lengths = lengths
        self._avg_length = float(lengths.mean()) if self.size else 0.0
        self._idf = {
            term: math.log(1.0 + (self.size - len(posts) + 0.5) / (len(posts) + 0.5))
            for term, posts in self._postings.items()
        }

    def scores(self, query: str) -> np.ndarray:
        """BM25 score of every document for ``query``: float32 array of shape ``(size,)``."""
        scores = np.zeros(self.size, dtype=np.float32)
        if not self.size:
            return scores
        norm = self.k1 * (1 - self.b + self.b * self._lengths / max(self._avg_length, 1e-9))
        for term in set(tokenize(query)):
            idf = self._idf.get(term)
            if idf is None:
                continue
            for doc_index, tf in self._postings[term]:
                scores[doc_index] += idf * tf * (self.k1 + 1) / (tf + norm[doc_index])
        return scores

    def top(self, query: str, k: int) -> list[tuple[int, float]]:
        scores = self.scores(query)
        if not self.size:
            return []
        k = min(k, self.size)
        best = np.argpartition(-scores, k - 1)[:k]
        best = best[np.argsort(-scores[best], kind="stable")]
        return [(int(i), float(scores[i])) for i in best if scores[i] > 0]
