"""The floor every trained model must beat: a linear head on the frozen encoder's embeddings.

Multinomial logistic regression on the L2-normalised MiniLM sentence embeddings, fitted with
full-batch L-BFGS in torch (no sklearn at run time). On 10,000 examples the embeddings take
about half a minute and the fits a few seconds, so the trainer always has a strong, complete
candidate before it starts fine-tuning; fine-tuning only replaces it by doing better on the
validation split. A head may also read the texts' word and character n-grams (``nlp.lexical``)
beside the embeddings: the trainer fits both kinds and keeps the better on validation.

The selection score that decides between candidates (and stops fine-tuning early) is macro-F1,
or, for models whose labels include a "polar" pair (sentiment: negative / positive), the mean
of macro-F1 and the accuracy on the polar examples (a complaint called neutral counts wrong).

Django-free; ``import nlp.floor`` stays cheap (torch is imported inside the functions).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from nlp.calibration import nll
from nlp.lexical import SparseRows
from nlp.metrics import classification_report

# Inverse regularisation strengths tried, as sklearn's C: the loss is C x the summed
# cross-entropy plus half the squared weights. Unit-length 384-d embeddings sit close
# together, so the useful range is large.
DEFAULT_C_GRID = (4.0, 16.0, 64.0)
MAX_ITERATIONS = 200


def polar_accuracy(
    y_true: Sequence[str], y_pred: Sequence[str | None], polar: Sequence[str]
) -> float:
    """Accuracy on the examples whose true label is one of ``polar`` (for sentiment:
    praise vs complaint, where calling either one neutral counts as wrong); 0 with none."""
    pairs = [(t, p) for t, p in zip(y_true, y_pred, strict=True) if t in polar]
    if not pairs:
        return 0.0
    return round(sum(t == p for t, p in pairs) / len(pairs), 4)


def selection_score(
    y_true: Sequence[str],
    y_pred: Sequence[str | None],
    labels: Sequence[str],
    polar: Sequence[str] = (),
) -> float:
    """What candidates are compared on: macro-F1, averaged with ``polar_accuracy`` when the
    model has polar labels."""
    macro_f1 = float(classification_report(y_true, y_pred, labels)["macro_f1"])
    if not polar:
        return macro_f1
    return round((macro_f1 + polar_accuracy(y_true, y_pred, polar)) / 2, 4)


def class_weights(targets: np.ndarray, n_labels: int, power: float = 1.0) -> np.ndarray:
    """Inverse-frequency weights (``power`` 1), their square root (0.5), or none (0); mean 1
    over the examples, so the loss keeps its scale."""
    counts = np.bincount(targets, minlength=n_labels).astype(np.float64)
    weights = np.where(counts > 0, (len(targets) / (n_labels * np.maximum(counts, 1))), 0.0)
    weights = weights**power
    return weights / (weights[targets].mean() if len(targets) else 1.0)


@dataclass(frozen=True)
class LinearHead:
    """``logits = vectors @ weight.T + bias`` (+ ``lexical @ lexical_weight.T`` for a head
    fitted with lexical features); ``weight`` (n_labels, dim), ``bias`` (n_labels),
    ``lexical_weight`` (n_labels, n-grams) or ``None``."""

    weight: np.ndarray
    bias: np.ndarray
    c: float
    class_weight_power: float
    iterations: int
    lexical_weight: np.ndarray | None = None

    def logits(self, vectors: np.ndarray, lexical: SparseRows | None = None) -> np.ndarray:
        out = vectors.astype(np.float64) @ self.weight.T.astype(np.float64) + self.bias
        if self.lexical_weight is not None:
            if lexical is None:
                raise ValueError("this head reads lexical features too: pass them")
            out += lexical.dot(self.lexical_weight)
        return out


def fit_linear_head(
    vectors: np.ndarray,
    targets: np.ndarray,
    n_labels: int,
    *,
    c: float,
    class_weight_power: float = 0.0,
    start: LinearHead | None = None,
    max_iterations: int = MAX_ITERATIONS,
    lexical: SparseRows | None = None,
) -> LinearHead:
    """L2-regularised multinomial logistic regression by L-BFGS (strong Wolfe line search),
    on the embeddings and, when given, the examples' ``lexical`` features beside them.
    ``start`` warm-starts from another fit (a neighbouring C converges in a few steps)."""
    import torch

    x = torch.as_tensor(np.ascontiguousarray(vectors), dtype=torch.float64)
    y = torch.as_tensor(targets, dtype=torch.long)
    weight_per_example = torch.as_tensor(
        class_weights(targets, n_labels, class_weight_power)[targets], dtype=torch.float64
    )

    def parameter(values: np.ndarray | None, shape: tuple[int, ...]) -> torch.Tensor:
        if values is None:
            return torch.zeros(shape, dtype=torch.float64, requires_grad=True)
        return torch.tensor(values, dtype=torch.float64, requires_grad=True)

    w = parameter(start.weight if start else None, (n_labels, x.shape[1]))
    b = parameter(start.bias if start else None, (n_labels,))
    parameters = [w, b]
    sparse, lw = None, None
    if lexical is not None:
        sparse = lexical.torch(torch.float64)
        warm = start.lexical_weight if start is not None else None
        lw = parameter(warm, (n_labels, lexical.width))
        parameters.append(lw)
    penalty = 0.5 / (c * max(len(targets), 1))  # C x sum(CE) + |w|^2 / 2, divided by C x n
    optimizer = torch.optim.LBFGS(
        parameters,
        lr=1.0,
        max_iter=max_iterations,
        history_size=20,
        tolerance_grad=1e-7,
        tolerance_change=1e-10,
        line_search_fn="strong_wolfe",
    )
    calls = 0

    def closure() -> torch.Tensor:
        nonlocal calls
        calls += 1
        optimizer.zero_grad()
        logits = x @ w.T + b
        squares = (w * w).sum()
        if lw is not None:
            logits = logits + torch.sparse.mm(sparse, lw.T)
            squares = squares + (lw * lw).sum()
        losses = torch.nn.functional.cross_entropy(logits, y, reduction="none")
        loss = (losses * weight_per_example).mean() + penalty * squares
        loss.backward()
        return loss

    optimizer.step(closure)
    return LinearHead(
        weight=w.detach().numpy().astype(np.float32),
        bias=b.detach().numpy().astype(np.float32),
        c=c,
        class_weight_power=class_weight_power,
        iterations=calls,
        lexical_weight=None if lw is None else lw.detach().numpy().astype(np.float32),
    )


@dataclass(frozen=True)
class FloorChoice:
    """The head chosen on validation, its validation logits, score and NLL, and every
    (C, class-weight power) tried with its validation score."""

    head: LinearHead
    val_logits: np.ndarray
    val_score: float
    val_nll: float
    tried: tuple[tuple[float, float, float], ...]


def choose_linear_head(
    train_vectors: np.ndarray,
    train_targets: np.ndarray,
    val_vectors: np.ndarray,
    val_targets: np.ndarray,
    n_labels: int,
    *,
    c_grid: Sequence[float] = DEFAULT_C_GRID,
    class_weight_powers: Sequence[float] = (0.0,),
    polar: Sequence[int] = (),
    train_lexical: SparseRows | None = None,
    val_lexical: SparseRows | None = None,
) -> FloorChoice:
    """Fit a head per (C, class-weight power) and keep the best on the validation split's
    selection score, ties to the lower NLL. With ``train_lexical`` / ``val_lexical`` every
    head also reads the examples' lexical features."""
    if (train_lexical is None) != (val_lexical is None):
        raise ValueError("pass lexical features for both splits or for neither")
    label_ids = [str(i) for i in range(n_labels)]
    truth = [str(t) for t in val_targets]
    polar_ids = [str(i) for i in polar]
    best: FloorChoice | None = None
    tried: list[tuple[float, float, float]] = []
    for power in class_weight_powers:
        previous: LinearHead | None = None
        for c in sorted(c_grid):
            head = fit_linear_head(
                train_vectors,
                train_targets,
                n_labels,
                c=c,
                class_weight_power=power,
                start=previous,
                lexical=train_lexical,
            )
            previous = head
            logits = head.logits(val_vectors, val_lexical)
            predicted = [str(i) for i in logits.argmax(axis=1)]
            score = selection_score(truth, predicted, label_ids, polar_ids)
            loss = nll(logits, val_targets)
            tried.append((c, power, score))
            if best is None or (score, -loss) > (best.val_score, -best.val_nll):
                best = FloorChoice(head, logits, score, loss, ())
    assert best is not None, "choose_linear_head needs a non-empty grid"
    return FloorChoice(best.head, best.val_logits, best.val_score, best.val_nll, tuple(tried))
