"""Classification metrics as plain JSON-ready dicts (no sklearn: it is a dev-only dependency).

A ``None`` prediction means the model declined (confidence under its fallback threshold). It
counts as wrong for accuracy and for the true label's recall, but it is nobody's false positive,
so it lowers no label's precision.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

TOP_CONFUSIONS = 20


def _round(value: float) -> float:
    return round(float(value), 4)


def _f1(precision: float, recall: float) -> float:
    return 0.0 if precision + recall == 0 else 2 * precision * recall / (precision + recall)


def classification_report(
    y_true: Sequence[str], y_pred: Sequence[str | None], labels: Sequence[str]
) -> dict[str, Any]:
    """Accuracy, macro-F1 over ``labels``, per-label precision/recall/F1/support, top confusions.

    ``confusions`` lists the most frequent wrong ``[true, predicted, count]`` triples (at most
    20, most frequent first; a declined prediction shows as ``None``). ``coverage`` (share of
    non-``None`` predictions) is present only when some prediction is ``None``. Labels absent
    from ``labels`` still count towards accuracy. Floats are rounded to 4 places.
    """
    if len(y_true) != len(y_pred):
        raise ValueError(f"{len(y_true)} true labels but {len(y_pred)} predictions")
    n = len(y_true)
    correct = sum(1 for t, p in zip(y_true, y_pred, strict=True) if t == p)
    true_counts = Counter(y_true)
    pred_counts = Counter(p for p in y_pred if p is not None)
    hits = Counter(t for t, p in zip(y_true, y_pred, strict=True) if t == p)

    per_label: dict[str, dict[str, float | int]] = {}
    for label in labels:
        precision = hits[label] / pred_counts[label] if pred_counts[label] else 0.0
        recall = hits[label] / true_counts[label] if true_counts[label] else 0.0
        per_label[label] = {
            "precision": _round(precision),
            "recall": _round(recall),
            "f1": _round(_f1(precision, recall)),
            "support": true_counts[label],
        }
    f1s = [
        _f1(
            hits[label] / pred_counts[label] if pred_counts[label] else 0.0,
            hits[label] / true_counts[label] if true_counts[label] else 0.0,
        )
        for label in labels
    ]
    errors = Counter((t, p) for t, p in zip(y_true, y_pred, strict=True) if t != p)
    # Sort by count, then by names so that ties come out in a stable order across runs.
    ranked = sorted(errors.items(), key=lambda item: (-item[1], item[0][0], str(item[0][1])))
    report: dict[str, Any] = {
        "accuracy": _round(correct / n if n else 0.0),
        "macro_f1": _round(sum(f1s) / len(f1s) if f1s else 0.0),
        "examples": n,
        "per_label": per_label,
        "confusions": [[t, p, count] for (t, p), count in ranked[:TOP_CONFUSIONS]],
    }
    declined = sum(1 for p in y_pred if p is None)
    if declined:
        report["coverage"] = _round((n - declined) / n)
    return report
