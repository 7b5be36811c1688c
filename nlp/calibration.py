"""Calibration and the fallback threshold, numpy only: softmax with a temperature, NLL, the
expected calibration error, the temperature fit and the precision-targeted threshold.

Shared by the fine-tuned classifier (``nlp.intents``) and the floor (``nlp.floor``)."""

from __future__ import annotations

import itertools
import math

import numpy as np

MIN_TEMPERATURE = 0.5
MAX_TEMPERATURE = 20.0


def softmax(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """Row-wise softmax of ``logits / temperature``; ``(n, k)`` float64 in, same shape out."""
    scaled = logits / temperature
    scaled = scaled - scaled.max(axis=1, keepdims=True)
    exp = np.exp(scaled)
    return exp / exp.sum(axis=1, keepdims=True)


def nll(logits: np.ndarray, targets: np.ndarray, temperature: float = 1.0) -> float:
    """Mean negative log-likelihood of integer ``targets`` (n,) under ``logits`` (n, k)."""
    scaled = logits / temperature
    shifted = scaled - scaled.max(axis=1, keepdims=True)
    log_norm = np.log(np.exp(shifted).sum(axis=1))
    return float(np.mean(log_norm - shifted[np.arange(len(targets)), targets]))


def expected_calibration_error(probs: np.ndarray, targets: np.ndarray, bins: int = 15) -> float:
    """ECE over ``bins`` equal-width confidence bins of the top label (the usual definition)."""
    if len(targets) == 0:
        return 0.0
    confidence = probs.max(axis=1)
    correct = probs.argmax(axis=1) == targets
    edges = np.linspace(0.0, 1.0, bins + 1)
    total = 0.0
    for low, high in itertools.pairwise(edges):
        mask = (confidence > low) & (confidence <= high)
        if mask.any():
            total += mask.mean() * abs(correct[mask].mean() - confidence[mask].mean())
    return float(total)


def fit_temperature(
    logits: np.ndarray, targets: np.ndarray, lowest: float = MIN_TEMPERATURE
) -> float:
    """Temperature minimising validation NLL, searched in ``[lowest, MAX_TEMPERATURE]``:
    a log-spaced grid then golden-section search around the best grid point. NLL in T is
    unimodal in practice; this costs ~1 ms for a few hundred examples (no torch needed).

    With no validation errors the fit is not identifiable (NLL keeps falling as T -> 0 and
    every input, nonsense included, would become certain), so T stays 1; the floor bounds the
    same effect when there are only one or two errors. A linear head on frozen embeddings
    (the floor) has small logits, so its range goes lower (``lowest``).
    """
    if len(targets) == 0 or bool(np.all(logits.argmax(axis=1) == targets)):
        return 1.0  # no errors: NLL falls without bound as T -> 0, so there is nothing to fit
    grid = np.exp(np.linspace(math.log(lowest), math.log(MAX_TEMPERATURE), 61))
    losses = [nll(logits, targets, t) for t in grid]
    best = int(np.argmin(losses))
    low = math.log(grid[max(best - 1, 0)])
    high = math.log(grid[min(best + 1, len(grid) - 1)])
    ratio = (math.sqrt(5) - 1) / 2
    for _ in range(40):
        a = high - ratio * (high - low)
        b = low + ratio * (high - low)
        if nll(logits, targets, math.exp(a)) < nll(logits, targets, math.exp(b)):
            high = b
        else:
            low = a
    return float(math.exp((low + high) / 2))


def choose_threshold(
    confidence: np.ndarray,
    correct: np.ndarray,
    target_precision: float,
    floor: float,
    ceiling: float,
) -> float:
    """The lowest confidence threshold whose accepted predictions (confidence ≥ threshold) are
    at least ``target_precision`` precise, i.e. the one with the most coverage, clamped to
    ``[floor, ceiling]``; ``ceiling`` when no threshold reaches the target.

    Candidates are the observed confidences, so the rule is exact on the validation split;
    on few examples it is noisy, which is what the floor and ceiling are for.
    """
    order = np.argsort(-confidence, kind="stable")
    sorted_conf = confidence[order]
    hits = np.cumsum(correct[order])
    accepted = np.arange(1, len(order) + 1)
    precision = hits / accepted
    # A cut is only valid after the last of equal confidences (ties are accepted together).
    if len(order) == 0 or precision[-1] >= target_precision:
        return float(floor)  # accepting everything already meets the target
    valid = np.r_[sorted_conf[1:] < sorted_conf[:-1], True]
    passing = np.flatnonzero((precision >= target_precision) & valid)
    if len(passing) == 0:
        return float(ceiling)
    lowest = float(sorted_conf[passing[-1]])
    return float(min(max(lowest, floor), ceiling))
