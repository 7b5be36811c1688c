"""Training-data hygiene: PII redaction, de-duplication and label-conflict detection.

Two rows are the same text when they match after PII redaction, case folding, punctuation
removal and whitespace collapsing ("Where's my order?" and "wheres my order"). Same text, same
label: one copy trains. Same text, different labels: none trains, and the clash is returned so
someone can fix it; training on both would teach the model to be unsure exactly there.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from nlp.pii import redact

RowId = TypeVar("RowId", bound=Hashable)

# Apostrophes join a word ("where's", "don't" are typed "wheres", "dont" just as often), so
# they are dropped; other punctuation separates words ("size,colour" is "size colour").
_APOSTROPHES = re.compile(r"['\u2018\u2019\u02bc`]")
_PUNCTUATION = re.compile(r"[^\w\s]+")
_SPACES = re.compile(r"\s+")


def normalise(text: str) -> str:
    """``text`` folded for comparison: no case, punctuation or repeated whitespace."""
    folded = _APOSTROPHES.sub("", text.casefold())
    return _SPACES.sub(" ", _PUNCTUATION.sub(" ", folded)).strip()


def text_fingerprint(text: str) -> str:
    """SHA-256 (hex, 64 chars) of the normalised, PII-redacted text: its identity as data."""
    return hashlib.sha256(normalise(redact(text).text).encode()).hexdigest()


@dataclass(frozen=True)
class Conflict(Generic[RowId]):
    """One text given several labels: ``labels`` maps each label to the ids that say so."""

    key: str
    text: str
    labels: dict[str, tuple[RowId, ...]]


@dataclass(frozen=True)
class CleanData(Generic[RowId]):
    """Rows fit to train on (redacted text, label, source id), and what was left out."""

    texts: list[str]
    labels: list[str]
    ids: list[RowId]
    keys: list[str]
    rows_in: int
    duplicates: int
    redacted: int
    excluded: int
    conflicts: list[Conflict[RowId]] = field(default_factory=list)

    @property
    def conflicted_rows(self) -> int:
        return sum(len(ids) for conflict in self.conflicts for ids in conflict.labels.values())

    def counts(self) -> dict[str, int]:
        return {
            "rows": self.rows_in,
            "trained_on": len(self.texts),
            "duplicates_dropped": self.duplicates,
            "pii_redacted": self.redacted,
            "in_evaluation_set": self.excluded,
            "conflicts": len(self.conflicts),
            "conflicted_rows": self.conflicted_rows,
        }


def clean_labelled(
    rows: Iterable[tuple[RowId, str, str]], *, exclude: Sequence[str] | frozenset[str] = ()
) -> CleanData[RowId]:
    """Redact, de-duplicate and drop conflicting ``(id, text, label)`` rows, in input order.

    Rows whose fingerprint is in ``exclude`` (the evaluation set's) are left out, so a model is
    never evaluated on a text it trained on.
    """
    excluded_keys = frozenset(exclude)
    groups: dict[str, list[tuple[RowId, str, str]]] = {}
    rows_in = redacted = excluded = 0
    for row_id, text, label in rows:
        rows_in += 1
        clean = redact(text)
        if clean.kinds:
            redacted += 1
        key = hashlib.sha256(normalise(clean.text).encode()).hexdigest()
        if key in excluded_keys:
            excluded += 1
            continue
        groups.setdefault(key, []).append((row_id, clean.text, label))

    texts: list[str] = []
    labels: list[str] = []
    ids: list[RowId] = []
    keys: list[str] = []
    conflicts: list[Conflict[RowId]] = []
    duplicates = 0
    for key, members in groups.items():
        distinct = {label for _, _, label in members}
        if len(distinct) > 1:
            by_label: dict[str, list[RowId]] = {}
            for row_id, _, label in members:
                by_label.setdefault(label, []).append(row_id)
            conflicts.append(
                Conflict(key, members[0][1], {k: tuple(v) for k, v in sorted(by_label.items())})
            )
            continue
        row_id, text, label = members[0]
        duplicates += len(members) - 1
        texts.append(text)
        labels.append(label)
        ids.append(row_id)
        keys.append(key)
    return CleanData(texts, labels, ids, keys, rows_in, duplicates, redacted, excluded, conflicts)


def data_fingerprint(texts: Sequence[str], labels: Sequence[str], *extra: str) -> str:
    """SHA-256 of a training set (order-insensitive) plus ``extra`` strings: equal exactly when
    a retraining would see the same data."""
    digest = hashlib.sha256()
    for text, label in sorted(zip(texts, labels, strict=True)):
        digest.update(f"{label}\x1f{text}\x1e".encode())
    for value in extra:
        digest.update(f"\x1d{value}".encode())
    return digest.hexdigest()
