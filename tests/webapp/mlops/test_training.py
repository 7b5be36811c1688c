"""model_train: the training lease, frozen evaluation sets, data hygiene reported to agents,
skipping unchanged data, and the promotion gate.

One test fine-tunes the real intent model on the tiny set (three short trainings). The others
are about what happens around fitting, so they use the real intent data, checks and conflict
reports with a memorising stand-in for the fine-tuning (behind the ``Trainer`` interface).
"""

from __future__ import annotations

import json
import random
from collections import Counter
from dataclasses import dataclass, fields
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.utils import timezone

from nlp.hygiene import normalise, text_fingerprint
from nlp.metrics import classification_report
from tests.factories import make_store
from tests.nlp.intent_data import TINY, TINY_TEXTS
from webapp.chat.models import Conversation, Message, MessageRating, RatingValue, Role
from webapp.intents.models import (
    ExampleSource,
    ExampleSplit,
    IntentConflict,
    IntentExample,
    text_key,
)
from webapp.intents.selectors import heldout_by_hash
from webapp.intents.services import intent_correction_record
from webapp.intents.training import IntentTrainer
from webapp.mlops.models import (
    EvaluationItem,
    EvaluationPolicy,
    EvaluationSet,
    EvaluationSetChange,
    ModelEvent,
    ModelEventAction,
    ModelKind,
    ModelVersion,
    RunState,
    RunTrigger,
    TrainingLock,
    TrainingRun,
    VersionState,
)
from webapp.mlops.selectors import model_version_live
from webapp.mlops.services import artefact_checksum, evaluation_set_policy_set
from webapp.mlops.training import (
    LeaseLost,
    TrainingDataError,
    baseline_gate,
    model_train,
    promotion_gate,
    training_lock_acquire,
    training_lock_release,
    training_lock_renew,
)
from webapp.stores.services import store_user_upsert

pytestmark = pytest.mark.django_db

HELDOUT = {
    "order_status": ["where's my package", "did my order ship yet"],
    "return_item": ["i'd like to send this back", "return please"],
    "greeting": ["hiya", "morning!"],
    "human_agent": ["a person please", "put me through to someone"],
}
HELDOUT_TEXTS = [text for texts in HELDOUT.values() for text in texts]


def _load(store, examples, split=ExampleSplit.TRAIN, source=ExampleSource.IMPORT):
    IntentExample.objects.bulk_create(
        IntentExample(
            store=store, text=t, text_key=text_key(t), intent=label, split=split, source=source
        )
        for label, texts in examples.items()
        for t in texts
    )


def _shopper_message(store, text: str, *, conversation=None) -> Message:
    conversation = conversation or Conversation.objects.create(
        store=store,
        token_hash=f"{Conversation.objects.count():064d}",
        last_activity_at=timezone.now(),
    )
    return Message.objects.create(
        store=store, conversation=conversation, role=Role.SHOPPER, text=text
    )


def _agent(store):
    return store_user_upsert(store=store, username="alex", password="pw", role="agent").user


def _train(store, **kwargs) -> Any:
    kwargs.setdefault("trigger", RunTrigger.COMMAND)
    return model_train(store_id=store.id, kind=ModelKind.INTENT, **kwargs)


# --- A memorising stand-in for fine-tuning ----------------------------------------------------


@dataclass(frozen=True)
class MemoConfig:
    base_model: str = ""
    max_epochs: int = 1
    max_seconds: float = 60.0
    num_threads: int = 0


class Memoriser:
    """Answers the label it was taught for a text, else its most common label."""

    def __init__(self, table: dict[str, str], default: str) -> None:
        self.table, self.default = table, default

    def predict(self, texts: list[str]) -> list[str]:
        return [self.table.get(normalise(text), self.default) for text in texts]


class MemorisingIntentTrainer(IntentTrainer):
    """The intent trainer's data, checks and conflict reports; fitting memorises, and records
    what it was given."""

    def __init__(self) -> None:
        self.fitted: list[dict[str, str]] = []
        self.during_fit: Any = None

    def config(self, overrides: dict[str, Any]) -> MemoConfig:
        known = {f.name for f in fields(MemoConfig)}
        return MemoConfig(**{k: v for k, v in overrides.items() if k in known})

    def fit(self, texts, labels, config, progress) -> Memoriser:
        self.fitted.append(dict(zip(texts, labels, strict=True)))
        if self.during_fit is not None:
            self.during_fit()
        table = {normalise(t): label for t, label in zip(texts, labels, strict=True)}
        return Memoriser(table, Counter(labels).most_common(1)[0][0])

    def evaluate(self, model, texts, labels) -> dict[str, Any]:
        report = classification_report(labels, model.predict(texts), sorted(set(labels)))
        return {**report, "without_threshold": report}

    def serving(self, store):
        version = model_version_live(store_id=store.id, kind=self.kind)
        if version is None:
            return None
        saved = json.loads((version.path / "memo.json").read_text())
        return f"intent v{version.version}", version, Memoriser(**saved)

    def save(self, model, directory: Path) -> None:
        directory.mkdir(parents=True)
        (directory / "memo.json").write_text(
            json.dumps({"table": model.table, "default": model.default})
        )


@pytest.fixture
def memo(monkeypatch) -> MemorisingIntentTrainer:
    trainer = MemorisingIntentTrainer()
    monkeypatch.setattr("webapp.mlops.training.trainer_for", lambda kind: trainer)
    return trainer


@pytest.fixture
def store():
    return make_store(slug="acme")


# --- The real fine-tuning, end to end ---------------------------------------------------------


def test_train_then_skip_unchanged_data_then_keep_a_worse_candidate(store):
    _load(store, TINY)
    _load(store, HELDOUT, ExampleSplit.HELDOUT)

    # 1. The first training registers v1 and, with nothing serving yet, makes it live.
    first = _train(store, max_epochs=2)
    assert first.run.state == RunState.SUCCEEDED
    assert first.promoted is True
    v1 = ModelVersion.objects.get()
    assert (v1.version, v1.state) == (1, VersionState.LIVE)
    assert v1.checksum == artefact_checksum(v1.path)
    assert v1.base_model  # the bundled MiniLM unless a config names another
    assert v1.training_settings["max_epochs"] == 2
    assert not {"num_threads", "device", "progress_every"} & set(v1.training_settings)
    assert v1.data_counts == first.run.data_counts
    assert v1.data_counts["examples"] == 40
    assert v1.data_counts["trained_on"] == 32
    assert v1.data_counts["held_back_for_evaluation"] == 8
    assert v1.data_counts["agent_corrections"] == 0
    evaluation_set = EvaluationSet.objects.get(store=store, kind=ModelKind.INTENT)
    assert v1.evaluation_set == evaluation_set
    assert v1.evaluation_checksum == evaluation_set.checksum
    assert v1.heldout_examples == evaluation_set.size == 8
    assert v1.promotion["live"] is None
    assert "epoch 1/2" in first.run.log
    assert TrainingLock.objects.get().run is None  # released

    # 2. Same data, no force: skipped, nothing registered. (That new data, an agent's
    # correction, trains again is in test_frozen_set_later_examples_train_and_are_not_added.)
    again = _train(store, max_epochs=2)
    assert again.run.state == RunState.SKIPPED
    assert again.run.reason == f"no new data since run {first.run.id}"
    assert again.version is None
    assert ModelVersion.objects.count() == 1

    # 3. Every training label wrong: far worse on the frozen set, so it stays a candidate.
    rng = random.Random(3)
    for example in IntentExample.objects.filter(store=store, split=ExampleSplit.TRAIN):
        example.intent = rng.choice([label for label in TINY if label != example.intent])
        example.save(update_fields=["intent"])
    shuffled = _train(store, max_epochs=2)
    assert shuffled.promoted is False
    v2 = shuffled.version
    assert (v2.version, v2.state) == (2, VersionState.CANDIDATE)
    assert v2.promotion["live_version"] == 1
    assert v2.promotion["gap"] > v2.promotion["tolerance"]
    assert "kept as a candidate" in shuffled.run.reason
    kept = ModelEvent.objects.get(version=v2)
    assert kept.action == ModelEventAction.KEPT_CANDIDATE
    assert model_version_live(store_id=store.id, kind=ModelKind.INTENT) == v1


# --- Evaluation sets ---------------------------------------------------------------------------


def test_the_first_training_freezes_the_explicitly_held_out_examples(store, memo):
    _load(store, TINY)
    _load(store, HELDOUT, ExampleSplit.HELDOUT)

    outcome = _train(store)

    evaluation_set = outcome.version.evaluation_set
    assert sorted(evaluation_set.items.values_list("text", flat=True)) == sorted(HELDOUT_TEXTS)
    assert set(evaluation_set.items.values_list("key", flat=True)) == {
        text_fingerprint(text) for text in HELDOUT_TEXTS
    }
    (trained,) = memo.fitted
    assert set(trained) == set(TINY_TEXTS)
    change = EvaluationSetChange.objects.get()
    assert (change.action, change.items_added, change.size_after) == ("created", 8, 8)


def test_without_held_out_examples_a_stable_hash_share_is_frozen(store, memo):
    _load(store, TINY)
    hashed = {text for text in TINY_TEXTS if heldout_by_hash(text_key(text))}
    assert hashed  # the tiny set has some, or this test proves nothing

    _train(store)
    evaluation_set = EvaluationSet.objects.get()
    assert set(evaluation_set.items.values_list("text", flat=True)) == hashed
    assert not hashed & set(memo.fitted[0])


def test_frozen_set_later_examples_train_and_are_not_added(store, memo, settings):
    settings.EVALUATION_SET_POLICY = EvaluationPolicy.FROZEN
    _load(store, TINY)
    _load(store, HELDOUT, ExampleSplit.HELDOUT)
    first = _train(store)
    evaluation_set = EvaluationSet.objects.get()
    checksum = evaluation_set.checksum

    _load(store, {"greeting": ["yo"]}, ExampleSplit.HELDOUT)
    # Relabelling the example an item was copied from does not move the goalposts.
    IntentExample.objects.filter(text="hiya").update(intent="human_agent")
    unchanged = _train(store)
    assert unchanged.run.reason == f"no new data since run {first.run.id}"

    message = _shopper_message(store, "where on earth is my parcel")
    intent_correction_record(message_id=message.id, intent="order_status", agent=_agent(store))
    outcome = _train(store)

    assert outcome.run.state == RunState.SUCCEEDED
    assert outcome.version.version == 2
    assert outcome.run.data_counts["agent_corrections"] == 1
    assert outcome.run.data_counts["trained_on"] == 33
    evaluation_set.refresh_from_db()
    assert (evaluation_set.size, evaluation_set.checksum) == (8, checksum)
    assert EvaluationItem.objects.get(text="hiya").label == "greeting"
    assert not EvaluationItem.objects.filter(text="yo").exists()
    assert "where on earth is my parcel" in memo.fitted[1]
    assert "yo" not in memo.fitted[1]  # held out by hand: never trains, frozen set or not
    assert list(EvaluationSetChange.objects.values_list("action", flat=True)) == ["created"]


def test_grow_policy_adds_newly_held_out_examples_and_records_it(store, memo):
    _load(store, TINY)
    _load(store, HELDOUT, ExampleSplit.HELDOUT)
    _train(store)
    evaluation_set = EvaluationSet.objects.get()
    owner = store_user_upsert(store=store, username="mia", password="pw", role="merchant").user
    evaluation_set_policy_set(
        evaluation_set=evaluation_set, policy=EvaluationPolicy.GROW, actor=owner
    )

    _load(store, {"greeting": ["yo"]}, ExampleSplit.HELDOUT)
    outcome = _train(store)

    evaluation_set.refresh_from_db()
    assert evaluation_set.size == 9
    assert EvaluationItem.objects.get(text="yo").label == "greeting"
    assert "yo" not in memo.fitted[1]
    assert outcome.version.heldout_examples == 9
    assert outcome.version.evaluation_checksum == evaluation_set.checksum
    changes = list(EvaluationSetChange.objects.values_list("action", "items_added", "actor"))
    assert changes == [("created", 8, None), ("policy", 0, owner.id), ("grown", 1, None)]


# --- Data hygiene reported to agents ------------------------------------------------------------


def test_conflicting_labels_are_left_out_reported_and_resolved_once_fixed(store, memo):
    _load(store, TINY)
    _load(store, HELDOUT, ExampleSplit.HELDOUT)
    clash = IntentExample.objects.create(
        store=store,
        text="Where is my order?",
        text_key=text_key("Where is my order?"),
        intent="greeting",
    )
    original = IntentExample.objects.get(text="where is my order")

    first = _train(store)

    conflict = IntentConflict.objects.get(store=store)
    assert conflict.labels == {
        "greeting": [f"example:{clash.id}"],
        "order_status": [f"example:{original.id}"],
    }
    assert conflict.resolved_at is None
    assert conflict.key == text_fingerprint("where is my order")
    assert not {"where is my order", "Where is my order?"} & set(memo.fitted[0])
    assert (first.run.data_counts["conflicts"], first.run.data_counts["conflicted_rows"]) == (1, 2)

    clash.intent = "order_status"
    clash.save(update_fields=["intent"])
    fixed = _train(store)

    conflict.refresh_from_db()
    assert conflict.resolved_at is not None
    assert fixed.run.state == RunState.SUCCEEDED
    assert memo.fitted[1]["where is my order"] == "order_status"  # trains once, de-duplicated
    assert "Where is my order?" not in memo.fitted[1]
    assert fixed.run.data_counts["duplicates_dropped"] == 1


def test_confirmed_answers_train_only_when_the_store_opts_in(store, memo):
    _load(store, TINY)
    _load(store, HELDOUT, ExampleSplit.HELDOUT)

    def rated_answer(text: str, value: str, *, corrected: str = "") -> None:
        asked = _shopper_message(store, text)
        asked.corrected_intent = corrected
        asked.save(update_fields=["corrected_intent"])
        answer = Message.objects.create(
            store=store,
            conversation=asked.conversation,
            role=Role.BOT,
            text="It ships today.",
            intent="order_status",
        )
        MessageRating.objects.create(message=answer, value=value)

    rated_answer("is my parcel coming today", RatingValue.UP)
    rated_answer("is my parcel lost", RatingValue.DOWN)
    rated_answer("when does the parcel come", RatingValue.UP, corrected="order_status")

    off = _train(store)
    assert "confirmed_answers" not in off.run.data_counts
    assert "is my parcel coming today" not in memo.fitted[0]

    store.train_on_confirmed_answers = True
    store.save(update_fields=["train_on_confirmed_answers"])
    on = _train(store)
    assert on.run.data_counts["confirmed_answers"] == 1
    assert memo.fitted[1]["is my parcel coming today"] == "order_status"
    assert "is my parcel lost" not in memo.fitted[1]  # rated unhelpful
    assert "when does the parcel come" not in memo.fitted[1]  # an agent corrected it instead


def test_data_that_cannot_train_is_a_skipped_run_and_frees_the_lease(store, memo):
    _load(store, {"greeting": TINY["greeting"]})
    with pytest.raises(TrainingDataError, match="at least two intents"):
        _train(store)
    run = TrainingRun.objects.get()
    assert run.state == RunState.SKIPPED
    assert "at least two intents" in run.reason
    assert memo.fitted == []
    assert not EvaluationSet.objects.exists()  # nothing frozen from data that can't train
    assert TrainingLock.objects.get().run is None


# --- The training lease ------------------------------------------------------------------------


def _run(store) -> TrainingRun:
    return TrainingRun.objects.create(store=store, kind=ModelKind.INTENT, trigger="schedule")


def test_the_lease_is_held_by_one_run_until_it_expires(store):
    first, second = _run(store), _run(store)
    assert training_lock_acquire(run=first) is None
    assert training_lock_acquire(run=second) == first
    training_lock_renew(run=first)

    TrainingLock.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    assert training_lock_acquire(run=second) is None  # takes over the stale lease

    first.refresh_from_db()
    assert first.state == RunState.LOST
    assert first.finished_at is not None
    assert "stopped renewing" in first.reason
    with pytest.raises(LeaseLost):
        training_lock_renew(run=first)
    training_lock_release(run=first)  # not the holder: changes nothing
    assert TrainingLock.objects.get().run == second

    training_lock_release(run=second)
    third = _run(store)
    assert training_lock_acquire(run=third) is None
    second.refresh_from_db()
    assert second.state == RunState.RUNNING  # released properly, not lost


def test_leases_are_per_store_and_kind(store):
    intent = _run(store)
    sentiment = TrainingRun.objects.create(store=store, kind=ModelKind.SENTIMENT, trigger="x")
    elsewhere = TrainingRun.objects.create(store=make_store(), kind=ModelKind.INTENT, trigger="x")
    assert training_lock_acquire(run=intent) is None
    assert training_lock_acquire(run=sentiment) is None
    assert training_lock_acquire(run=elsewhere) is None


def test_a_training_while_another_holds_the_lease_is_skipped(store, memo):
    _load(store, TINY)
    _load(store, HELDOUT, ExampleSplit.HELDOUT)
    holder = _run(store)
    training_lock_acquire(run=holder)

    outcome = _train(store)

    assert outcome.skipped
    assert outcome.run.state == RunState.SKIPPED
    assert f"run {holder.id}" in outcome.run.reason
    assert memo.fitted == []
    assert not ModelVersion.objects.exists()
    assert TrainingLock.objects.get().run == holder  # still the holder's


def test_a_run_that_lost_its_lease_while_fitting_registers_nothing(store, memo):
    _load(store, TINY)
    _load(store, HELDOUT, ExampleSplit.HELDOUT)
    usurper = _run(store)

    def lease_runs_out_and_another_run_takes_over() -> None:
        TrainingLock.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
        assert training_lock_acquire(run=usurper) is None

    memo.during_fit = lease_runs_out_and_another_run_takes_over
    with pytest.raises(LeaseLost):
        _train(store)

    assert not ModelVersion.objects.exists()
    lost = TrainingRun.objects.exclude(id=usurper.id).get()
    # Marked lost by the usurper, then recorded by its own worker when it tried to renew.
    assert lost.state == RunState.FAILED
    assert "lost its lease" in lost.reason
    assert lost.version is None
    assert TrainingLock.objects.get().run == usurper


# --- The gate ---------------------------------------------------------------------------------


def test_gate_promotes_the_first_model():
    verdict = promotion_gate(candidate=0.4, live=None, live_name=None, tolerance=0.01)
    assert verdict.promoted
    assert "nothing serves yet" in verdict.reason


def test_gate_promotes_within_the_tolerance():
    for candidate in (0.9, 0.95, 0.89):
        verdict = promotion_gate(candidate=candidate, live=0.9, live_name="v1", tolerance=0.01)
        assert verdict.promoted, candidate
    assert promotion_gate(candidate=0.8, live=0.8 + 0.02, live_name="v1", tolerance=0.02).promoted


def test_gate_refuses_a_candidate_worse_by_more_than_the_tolerance():
    verdict = promotion_gate(candidate=0.85, live=0.9, live_name="intent v1", tolerance=0.01)
    assert not verdict.promoted
    assert "0.050 worse" in verdict.reason
    assert "intent v1" in verdict.reason
    assert verdict.details["gap"] == pytest.approx(0.05)
    assert verdict.details["candidate"] == 0.85
    assert verdict.details["live"] == 0.9


def test_other_training_settings_are_not_the_data_the_last_run_saw(store, memo):
    _load(store, TINY)
    _load(store, HELDOUT, ExampleSplit.HELDOUT)
    first = _train(store, max_epochs=1)
    assert first.run.state == RunState.SUCCEEDED
    # A short run (say, from the command line) must not stop the scheduled, full one.
    again = _train(store, max_epochs=3)
    assert again.run.state == RunState.SUCCEEDED
    assert again.run.fingerprint != first.run.fingerprint
    same = _train(store, max_epochs=3)
    assert same.run.reason == f"no new data since run {again.run.id}"


def test_a_live_version_changed_by_hand_while_training_keeps_the_candidate(store, memo):
    from webapp.mlops.services import model_version_rollback

    _load(store, TINY)
    _load(store, HELDOUT, ExampleSplit.HELDOUT)
    _train(store)
    _load(store, {"greeting": ["a lovely evening to the whole team"]})
    _train(store)  # v2, live; v1 retired

    _load(store, {"greeting": ["warm evening greetings from me"]})
    save = memo.save

    def merchant_rolls_back_while_the_candidate_is_saved(model, directory) -> None:
        # After the gate judged against v2, before the promotion.
        model_version_rollback(store_id=store.id, kind=ModelKind.INTENT)
        save(model, directory)

    memo.save = merchant_rolls_back_while_the_candidate_is_saved  # type: ignore[method-assign]
    outcome = _train(store)

    assert outcome.promoted is False
    assert "not made live: the live version changed" in outcome.run.reason
    assert outcome.version.state == VersionState.CANDIDATE
    assert _live_version(store) == 1  # the merchant's rollback stands
    assert ModelEvent.objects.filter(
        version=outcome.version, action=ModelEventAction.KEPT_CANDIDATE
    ).exists()


def _live_version(store) -> int:
    return ModelVersion.objects.get(store=store, kind=ModelKind.INTENT, state="live").version


def test_baseline_gate_refuses_a_candidate_that_loses_on_either_measure():
    vader = {"macro_f1": 0.70, "polar_accuracy": 0.90}
    floor = {"macro_f1": 0.75, "polar_accuracy": 0.85}
    baselines = [("vader", vader), ("floor", floor)]

    better_f1_worse_polar = {"macro_f1": 0.80, "polar_accuracy": 0.88}
    verdict = baseline_gate(candidate=better_f1_worse_polar, baselines=baselines)
    assert not verdict.promoted
    assert verdict.reason == "loses to a baseline: polar_accuracy 0.880 < vader 0.900"

    worse_f1 = {"macro_f1": 0.74, "polar_accuracy": 0.95}
    verdict = baseline_gate(candidate=worse_f1, baselines=baselines)
    assert not verdict.promoted
    assert "macro_f1 0.740 < floor 0.750" in verdict.reason

    ties = {"macro_f1": 0.75, "polar_accuracy": 0.90}
    verdict = baseline_gate(candidate=ties, baselines=baselines)
    assert verdict.promoted
    assert verdict.details["baselines"] == {"vader": vader, "floor": floor}


class TunedWithFloor(Memoriser):
    """A fine-tuned stand-in that carries the floor it beat on validation."""

    def __init__(self, table, default, floor: Memoriser) -> None:
        super().__init__(table, default)
        self.floor = floor


def test_a_fine_tuned_model_that_loses_to_its_floor_on_the_evaluation_set_is_not_registered(
    store, memo, monkeypatch
):
    _load(store, TINY)
    _load(store, HELDOUT, ExampleSplit.HELDOUT)
    knows_heldout = {normalise(t): label for label, ts in HELDOUT.items() for t in ts}
    floor = Memoriser(knows_heldout, "greeting")
    monkeypatch.setattr(
        memo, "fit", lambda texts, labels, config, progress: TunedWithFloor({}, "greeting", floor)
    )

    outcome = _train(store, max_epochs=1)

    version = outcome.version
    saved = json.loads((version.path / "memo.json").read_text())
    assert saved["table"] == knows_heldout  # the floor was registered, not the fine-tuned one
    assert version.metrics["macro_f1"] == 1.0
    assert version.metrics["kept"]["chosen"] == "floor"
    assert version.metrics["kept"]["reason"].startswith("fine-tuned loses to a baseline: macro_f1")
    assert "the floor is registered instead" in outcome.run.log
    assert outcome.promoted


def test_a_fine_tuned_model_that_beats_its_floor_is_registered(store, memo, monkeypatch):
    _load(store, TINY)
    _load(store, HELDOUT, ExampleSplit.HELDOUT)
    knows_heldout = {normalise(t): label for label, ts in HELDOUT.items() for t in ts}
    monkeypatch.setattr(
        memo,
        "fit",
        lambda texts, labels, config, progress: TunedWithFloor(
            knows_heldout, "greeting", Memoriser({}, "greeting")
        ),
    )

    outcome = _train(store, max_epochs=1)

    saved = json.loads((outcome.version.path / "memo.json").read_text())
    assert saved["table"] == knows_heldout
    assert "fine-tuned model kept: no worse than floor on macro_f1" in outcome.run.log


class Scorer:
    """A sentiment stand-in: a fixed label per text, and optionally the floor it beat."""

    def __init__(self, labels: dict[str, str], floor: Scorer | None = None) -> None:
        self.labels, self.floor = labels, floor

    def predict(self, texts):
        from nlp.sentiment import SentimentResult

        return [SentimentResult(self.labels[t], 0.0, {}) for t in texts]


@pytest.mark.parametrize(
    ("tuned_labels", "registered"),
    [
        # As good on three-class macro-F1, but a complaint called neutral: loses on polar accuracy.
        (["negative", "neutral", "neutral", "positive", "positive", "neutral"], "floor"),
        # Every complaint and every praise right, but no neutral: loses on macro-F1.
        (["negative", "negative", "positive", "positive", "positive", "positive"], "floor"),
        # As good on both: the fine-tuned model stays.
        (["negative", "negative", "neutral", "positive", "positive", "neutral"], "fine_tuned"),
    ],
)
def test_a_sentiment_model_losing_to_its_floor_on_either_measure_gives_way_to_it(
    store, tuned_labels, registered
):
    from webapp.mlops.training import RunJournal, _floor_instead
    from webapp.reviews.training import SentimentTrainer

    texts = ["t1", "t2", "t3", "t4", "t5", "t6"]
    gold = ["negative", "negative", "neutral", "positive", "positive", "neutral"]
    floor_labels = ["negative", "negative", "positive", "positive", "positive", "neutral"]
    floor = Scorer(dict(zip(texts, floor_labels, strict=True)))
    tuned = Scorer(dict(zip(texts, tuned_labels, strict=True)), floor=floor)
    trainer = SentimentTrainer()
    run = TrainingRun.objects.create(store=store, kind=ModelKind.SENTIMENT, trigger="x")
    journal = RunJournal(run)

    metrics = trainer.evaluate(tuned, texts, gold)
    kept, kept_metrics = _floor_instead(trainer, tuned, metrics, (texts, gold), journal)

    assert (kept is floor) == (registered == "floor")
    assert kept_metrics == trainer.evaluate(kept, texts, gold) | (
        {"kept": kept_metrics["kept"]} if registered == "floor" else {}
    )
    line = journal.lines[-1]
    if registered == "floor":
        assert "the floor is registered instead" in line
        assert kept_metrics["kept"]["chosen"] == "floor"
    else:
        assert "fine-tuned model kept" in line
