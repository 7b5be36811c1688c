"""A crowd on one web process: many shoppers at once on the embedded default, and a bounded
turn queue that saves every message and tells the shopper when it can't answer yet."""

from __future__ import annotations

import asyncio
import threading

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator

from tests.factories import make_indexed_store
from webapp.asgi import application
from webapp.chat import consumers
from webapp.chat.capacity import TurnGate
from webapp.chat.models import Conversation, ConversationState, Message, Role

pytestmark = [
    pytest.mark.asyncio,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("close_thread_db_connections", "in_memory_channel_layer"),
]

ORIGIN = [(b"origin", b"http://testserver")]
FRAME_TIMEOUT = 30


async def test_the_gate_runs_a_limited_number_and_hands_slots_over_in_order():
    gate = TurnGate(limit=2, queue_limit=2)
    await gate.acquire()
    await gate.acquire()
    assert (gate.running, gate.ahead(), gate.full()) == (2, 1, False)
    order: list[str] = []

    async def turn(name: str) -> None:
        await gate.acquire()
        order.append(name)

    third = asyncio.create_task(turn("third"))
    fourth = asyncio.create_task(turn("fourth"))
    await asyncio.sleep(0)
    assert (gate.waiting, gate.full()) == (2, True)
    gate.release()
    await third
    assert order == ["third"]
    assert (gate.running, gate.waiting) == (2, 1)
    gate.release()
    await fourth
    assert order == ["third", "fourth"]
    gate.release()
    gate.release()
    assert (gate.running, gate.waiting) == (0, 0)


async def test_a_cancelled_waiter_gives_up_its_place():
    gate = TurnGate(limit=1, queue_limit=5)
    await gate.acquire()
    waiter = asyncio.create_task(gate.acquire())
    await asyncio.sleep(0)
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    assert gate.waiting == 0
    gate.release()
    assert gate.running == 0


async def test_the_gate_turns_away_a_turn_that_would_wait_longer_than_its_bound():
    gate = TurnGate(limit=2, queue_limit=100, max_wait_s=1.0)
    for _ in range(4):  # four turns finished just now: 4 in the rate's 0.5 s minimum span
        await gate.acquire()
        gate.release()
    assert gate.rate() == pytest.approx(8.0)
    await gate.acquire()
    await gate.acquire()
    waiters = [asyncio.create_task(gate.acquire()) for _ in range(7)]
    await asyncio.sleep(0)
    assert gate.expected_wait() == pytest.approx(1.0)  # 8 ahead at 8 a second
    assert not gate.full()
    waiters.append(asyncio.create_task(gate.acquire()))
    await asyncio.sleep(0)
    assert gate.full()  # the ninth would wait 1.125 s
    for waiter in waiters:
        waiter.cancel()
    await asyncio.gather(*waiters, return_exceptions=True)
    assert gate.waiting == 0


@database_sync_to_async
def _store_with_index():
    return make_indexed_store(slug="acme", name="Acme")


async def _open(path="/ws/chat/acme/"):
    communicator = WebsocketCommunicator(application, path, headers=ORIGIN)
    connected, _ = await communicator.connect(timeout=FRAME_TIMEOUT)
    assert connected
    hello = await communicator.receive_json_from(timeout=FRAME_TIMEOUT)
    assert hello["type"] == "conversation"
    return communicator


async def _until(communicator, predicate):
    frames = []
    while True:
        frame = await communicator.receive_json_from(timeout=FRAME_TIMEOUT)
        frames.append(frame)
        if predicate(frame):
            return frames


def _is_bot(frame):
    return frame["type"] == "message" and frame["role"] == "bot"


async def test_forty_shoppers_at_once_on_the_embedded_default_all_get_answers(encoder):
    await _store_with_index()
    questions = [
        "how long does shipping take?",
        "can I return a kettle I don't like",
        "do you have a red kettle",
        "what payment methods do you accept",
    ]

    async def shopper(n: int) -> list[dict]:
        communicator = await _open()
        try:
            frames = []
            for turn in range(2):
                text = f"{questions[(n + turn) % len(questions)]} (shopper {n})"
                await communicator.send_json_to({"type": "message", "text": text})
                frames += await _until(communicator, _is_bot)
            return frames
        finally:
            await communicator.disconnect()

    results = await asyncio.gather(*(shopper(n) for n in range(40)))
    frames = [frame for frames in results for frame in frames]
    assert [f for f in frames if f["type"] in ("error", "busy")] == []
    assert sum(_is_bot(f) for f in frames) == 80
    counts = await database_sync_to_async(
        lambda: (Conversation.objects.count(), Message.objects.filter(role=Role.BOT).count())
    )()
    assert counts == (40, 80)


@pytest.fixture
def held_bot(monkeypatch):
    """The real bot turn, held until the test lets it go: the only way to keep the one
    running slot busy for as long as the test needs."""
    release = threading.Event()
    started = threading.Semaphore(0)
    real = consumers.bot_reply

    def held(**kwargs):
        started.release()
        assert release.wait(30)
        return real(**kwargs)

    monkeypatch.setattr(consumers, "bot_reply", held)
    return release, started


async def test_a_full_queue_saves_the_message_and_says_so_and_the_queued_turn_follows(
    encoder, settings, held_bot
):
    settings.CHAT_TURN_CONCURRENCY = 1
    settings.CHAT_TURN_QUEUE = 1
    release, started = held_bot
    await _store_with_index()
    running, queued, turned_away, wants_a_person = [await _open() for _ in range(4)]
    try:
        await running.send_json_to({"type": "message", "text": "how long does shipping take?"})
        await _until(running, lambda f: f["type"] == "typing")
        assert await asyncio.to_thread(started.acquire, True, 10)

        await queued.send_json_to({"type": "message", "text": "can I pay by invoice?"})
        busy = (await _until(queued, lambda f: f["type"] == "busy"))[-1]
        assert busy["queued"] is True
        assert "answer follows" in busy["message"]

        await turned_away.send_json_to({"type": "message", "text": "do you ship to Norway?"})
        frames = await _until(turned_away, lambda f: f["type"] == "busy")
        [busy] = [f for f in frames if f["type"] == "busy"]
        assert busy["queued"] is False
        assert "send it again" in busy["message"]
        if not any(f.get("role") == "shopper" for f in frames):
            await _until(turned_away, lambda f: f.get("role") == "shopper")  # saved, echoed

        await wants_a_person.send_json_to({"type": "message", "text": "I want a real person"})
        frames = await _until(wants_a_person, lambda f: f["type"] == "busy")
        assert "member of our team" in frames[-1]["message"]
        state = (await _until(wants_a_person, lambda f: f["type"] == "state"))[-1]
        assert state["state"] == ConversationState.WAITING

        release.set()
        assert _is_bot((await _until(running, _is_bot))[-1])
        assert _is_bot((await _until(queued, _is_bot))[-1])
        assert await turned_away.receive_nothing(timeout=0.5)
    finally:
        release.set()
        for communicator in (running, queued, turned_away, wants_a_person):
            await communicator.disconnect()
    saved = await database_sync_to_async(
        lambda: sorted(Message.objects.filter(role=Role.SHOPPER).values_list("text", flat=True))
    )()
    assert saved == sorted(
        [
            "how long does shipping take?",
            "can I pay by invoice?",
            "do you ship to Norway?",
            "I want a real person",
        ]
    )


async def test_one_shopper_cannot_queue_more_than_a_few_unanswered_messages(
    encoder, settings, held_bot
):
    settings.CHAT_SHOPPER_MAX_PENDING = 2
    release, _ = held_bot
    await _store_with_index()
    communicator = await _open()
    try:
        for n in range(3):
            await communicator.send_json_to({"type": "message", "text": f"question {n}"})
        busy = (await _until(communicator, lambda f: f["type"] == "busy"))[-1]
        assert busy["queued"] is False
        assert "earlier messages" in busy["message"]
        release.set()
        await _until(communicator, _is_bot)
        await _until(communicator, _is_bot)
    finally:
        release.set()
        await communicator.disconnect()
    shopper_messages = await database_sync_to_async(
        Message.objects.filter(role=Role.SHOPPER).count
    )()
    assert shopper_messages == 3
