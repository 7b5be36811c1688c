"""The models keep learning, on the real services: agents' corrections are retrained on by the
scheduled job in a real training worker, the new version goes live, and the bot in another
process (daphne, talking to a shopper over a real websocket) answers with the corrected
intents; a candidate trained on shuffled labels is refused; a rollback restores the previous
behaviour; two concurrent triggers train once."""

from __future__ import annotations

import json
import random
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from websockets.sync.client import connect

from tests.integration.conftest import (
    CeleryWorker,
    ChatServer,
    _purge_queues,
    start_celery_worker,
    stop_celery_worker,
    wait_until,
)
from webapp.chat.models import Message, Role
from webapp.intents.models import ExampleSplit, IntentExample, text_key
from webapp.intents.services import intent_correction_record
from webapp.mlops.models import (
    ModelEvent,
    ModelEventAction,
    ModelKind,
    ModelVersion,
    RunState,
    TrainingRun,
    VersionState,
)
from webapp.mlops.schedules import training_schedule_trigger
from webapp.mlops.services import model_version_rollback
from webapp.stores.services import store_create, store_user_upsert

pytestmark = [pytest.mark.services, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

DEMO = Path(__file__).resolve().parents[2] / "webapp" / "demo" / "data"
KNOWN = ["order_status", "return_item", "delivery_time", "payment_methods", "warranty", "privacy"]
NEW_INTENT = "gift_card"  # v1 has never seen it: every such message is misclassified
TRAIN_PER_INTENT = 20
HELDOUT_PER_INTENT = 6
TRAINING_TIMEOUT = 600.0


def _demo(name: str) -> dict[str, list[str]]:
    by_intent: dict[str, list[str]] = {}
    for line in (DEMO / name).read_text(encoding="utf-8").splitlines():
        if line.strip():
            row = json.loads(line)
            by_intent.setdefault(row["intent"], []).append(row["text"])
    return by_intent


def _load_examples(store: Any) -> list[str]:
    """Six intents from the demo data (20 to train, 6 held out each); returns 20 messages of
    an intent the store has no examples of yet."""
    train, heldout = _demo("intents.jsonl"), _demo("intents_heldout.jsonl")
    rows = [
        IntentExample(store=store, text=t, text_key=text_key(t), intent=i, split=split)
        for i in KNOWN
        for split, texts in (
            (ExampleSplit.TRAIN, train[i][:TRAIN_PER_INTENT]),
            (ExampleSplit.HELDOUT, heldout[i][:HELDOUT_PER_INTENT]),
        )
        for t in texts
    ]
    IntentExample.objects.bulk_create(rows)
    return train[NEW_INTENT][:20]


@pytest.fixture
def trainer_worker(
    request: pytest.FixtureRequest, transactional_db: None, settings: Any, tmp_path: Path
) -> Iterator[CeleryWorker]:
    """The training queue's worker as deployed (two children, low priority, one thread each).

    The tolerance is 0.05 here because this store's frozen evaluation set has 36 messages:
    one message more or less moves macro-F1 by ~0.03, which is noise, not a worse model.
    """
    _purge_queues()
    worker = start_celery_worker(
        request,
        settings,
        tmp_path / "training-worker.log",
        queues="training",
        concurrency=2,
        environment={"MODEL_PROMOTION_TOLERANCE": "0.05", "INTENT_TRAIN_MAX_SECONDS": "150"},
    )
    try:
        yield worker
    finally:
        stop_celery_worker(worker)
        _purge_queues()


def _ask(server: ChatServer, store_slug: str, text: str) -> str:
    """One shopper message in a new conversation; the intent the bot's reply carries."""
    try:
        return _exchange(server, store_slug, text)
    except Exception as exc:
        raise AssertionError(f"{exc!r}; daphne's log:\n{server.log()[-5000:]}") from exc


def _exchange(server: ChatServer, store_slug: str, text: str) -> str:
    with connect(
        f"{server.url}/ws/chat/{store_slug}/",
        additional_headers={"Origin": "http://127.0.0.1"},
        open_timeout=20,
    ) as socket:
        json.loads(socket.recv(timeout=20))  # the conversation frame
        socket.send(json.dumps({"type": "message", "text": text}))
        while True:
            frame = json.loads(socket.recv(timeout=30))
            if frame.get("type") == "message" and frame.get("role") == "bot":
                return frame.get("intent") or ""


def _run_scheduled(worker: CeleryWorker, store: Any) -> TrainingRun:
    """Fire the store's intent schedule as beat would and wait for the run it makes."""
    before = TrainingRun.objects.filter(store=store).count()
    task_id = training_schedule_trigger(store=store, kind=ModelKind.INTENT)
    worker.wait_for_task(task_id, timeout=TRAINING_TIMEOUT)
    runs = TrainingRun.objects.filter(store=store).order_by("id")
    assert runs.count() == before + 1
    run = runs.last()
    assert run is not None
    return run


def test_corrections_retrain_promote_and_reach_the_live_bot_then_bad_candidate_and_rollback(
    trainer_worker: CeleryWorker, chat_server: ChatServer
) -> None:
    store = store_create(slug="learn", name="Learn")  # with its retraining schedules
    new_messages = _load_examples(store)
    agent = store_user_upsert(store=store, username="ana", password="pw-1234567", role="agent")
    merchant = store_user_upsert(
        store=store, username="mia", password="pw-1234567", role="merchant"
    )

    first = _run_scheduled(trainer_worker, store)
    assert first.state == RunState.SUCCEEDED, first.reason
    assert first.trigger == "schedule"
    v1 = ModelVersion.objects.get(store=store, kind=ModelKind.INTENT, version=1)
    assert v1.state == VersionState.LIVE
    assert v1.heldout_examples == len(KNOWN) * HELDOUT_PER_INTENT

    # Shoppers ask about gift cards; the live bot (daphne, another process) gets them wrong.
    before = [_ask(chat_server, "learn", text) for text in new_messages]
    assert NEW_INTENT not in before

    # Agents correct the 20 messages in the console (the service its action calls).
    shopper_messages = Message.objects.filter(store=store, role=Role.SHOPPER).order_by("id")
    assert shopper_messages.count() == 20
    for message in shopper_messages:
        intent_correction_record(message_id=message.id, intent=NEW_INTENT, agent=agent.user)

    second = _run_scheduled(trainer_worker, store)
    assert second.state == RunState.SUCCEEDED, second.reason
    assert second.promoted is True, second.reason
    assert second.data_counts["agent_corrections"] == 20
    v2 = ModelVersion.objects.get(store=store, kind=ModelKind.INTENT, version=2)
    assert v2.state == VersionState.LIVE
    promoted_at = time.monotonic()

    # The bot in the other process switches without a restart: poll until it answers the
    # first message with the corrected intent, then ask all twenty.
    wait_until(
        lambda: _ask(chat_server, "learn", new_messages[0]) == NEW_INTENT,
        timeout=30,
        interval=0.5,
        what="the live bot to serve v2",
    )
    reload_seconds = time.monotonic() - promoted_at
    print(f"\nthe daphne process answered with v2 {reload_seconds:.1f} s after promotion")
    after = [_ask(chat_server, "learn", text) for text in new_messages]
    assert after.count(NEW_INTENT) >= 18, after

    # A candidate trained on shuffled labels is refused and the bot keeps answering with v2.
    rng = random.Random(5)
    examples = list(IntentExample.objects.filter(store=store, split=ExampleSplit.TRAIN))
    labels = [example.intent for example in examples]
    rng.shuffle(labels)
    for example, label in zip(examples, labels, strict=True):
        example.intent = label
    IntentExample.objects.bulk_update(examples, ["intent"])
    bad = _run_scheduled(trainer_worker, store)
    assert bad.state == RunState.SUCCEEDED, bad.reason
    assert bad.promoted is False
    assert "kept as a candidate" in bad.reason
    v3 = ModelVersion.objects.get(store=store, kind=ModelKind.INTENT, version=3)
    assert v3.state == VersionState.CANDIDATE
    assert v3.promotion["candidate"] < v3.promotion["live"] - v3.promotion["tolerance"]
    assert ModelEvent.objects.filter(version=v3, action=ModelEventAction.KEPT_CANDIDATE).exists()
    assert _ask(chat_server, "learn", new_messages[1]) == NEW_INTENT

    # Rolling back puts v1 back: the bot answers exactly as it did before the corrections.
    model_version_rollback(store_id=store.id, kind=ModelKind.INTENT, actor=merchant.user)
    event = ModelEvent.objects.filter(store=store, action=ModelEventAction.ROLLED_BACK).get()
    assert (event.version.version, event.previous.version, event.actor) == (1, 2, merchant.user)
    wait_until(
        lambda: _ask(chat_server, "learn", new_messages[0]) == before[0],
        timeout=30,
        interval=0.5,
        what="the live bot to serve v1 again",
    )
    assert [_ask(chat_server, "learn", text) for text in new_messages] == before


def test_two_concurrent_triggers_train_once(trainer_worker: CeleryWorker) -> None:
    store = store_create(slug="twice", name="Twice")
    _load_examples(store)

    ids = [training_schedule_trigger(store=store, kind=ModelKind.INTENT) for _ in range(2)]
    for task_id in ids:
        trainer_worker.wait_for_task(task_id, timeout=TRAINING_TIMEOUT)

    runs = list(TrainingRun.objects.filter(store=store).order_by("id"))
    assert sorted(run.state for run in runs) == [RunState.SKIPPED, RunState.SUCCEEDED]
    skipped = next(run for run in runs if run.state == RunState.SKIPPED)
    trained = next(run for run in runs if run.state == RunState.SUCCEEDED)
    # The second really ran alongside the first: it was turned away by the lease.
    assert f"is running (run {trained.id})" in skipped.reason
    assert ModelVersion.objects.filter(store=store, kind=ModelKind.INTENT).count() == 1
