"""The shopper's websocket, end to end through the ASGI app with the in-memory channel layer."""

from datetime import timedelta

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.utils import timezone

from tests.factories import make_indexed_store, make_store
from webapp.asgi import application
from webapp.chat.models import Conversation, Message, MessageRating

# Generous: a loaded 2-core CI machine can take seconds for a frame; a passing test never waits.
FRAME_TIMEOUT = 10


pytestmark = [
    pytest.mark.asyncio,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("close_thread_db_connections", "in_memory_channel_layer"),
]

ORIGIN = [(b"origin", b"http://testserver")]


@database_sync_to_async
def _store_with_index():
    return make_indexed_store(slug="acme", name="Acme")


@database_sync_to_async
def _messages(conversation_id=None):
    rows = Message.objects.order_by("id")
    if conversation_id:
        rows = rows.filter(conversation_id=conversation_id)
    return list(rows.values_list("role", "text"))


async def _connect(path="/ws/chat/acme/", headers=ORIGIN):
    communicator = WebsocketCommunicator(application, path, headers=headers)
    connected, _ = await communicator.connect()
    assert connected
    return communicator


async def _turn(communicator, text):
    """Send one message; return the frames up to and including the bot's reply."""
    await communicator.send_json_to({"type": "message", "text": text})
    frames = []
    while True:
        frame = await communicator.receive_json_from(timeout=30)
        frames.append(frame)
        if frame["type"] == "message" and frame["role"] == "bot":
            return frames


async def test_shipping_question_gets_the_faq_answer_with_its_source(encoder):
    store = await _store_with_index()
    communicator = await _connect()
    try:
        hello = await communicator.receive_json_from(timeout=FRAME_TIMEOUT)
        assert hello["type"] == "conversation"
        assert hello["resumed"] is False
        assert hello["history"] == []
        assert len(hello["token"]) >= 40
        frames = await _turn(communicator, "how long does shipping take?")
        kinds = [(f["type"], f.get("role"), f.get("active")) for f in frames]
        assert kinds[0] == ("message", "shopper", None)  # saved before the reply is computed
        assert ("typing", None, True) in kinds
        bot = frames[-1]
        assert bot["text"].startswith("Parcels arrive in 1-2 business days")
        assert bot["intent"] == "delivery_time"
        assert bot["confidence"] > 0.9
        [source] = bot["sources"]
        assert source["kind"] == "faq"
        assert source["title"] == "How long does shipping take?"
        assert source["url"] == f"/s/acme/faq/#faq-{source['id']}"
        assert isinstance(bot["message_id"], int)
        assert await communicator.receive_json_from(timeout=FRAME_TIMEOUT) == {
            "type": "typing",
            "active": False,
        }
    finally:
        await communicator.disconnect()
    assert await _messages() == [
        ("shopper", "how long does shipping take?"),
        ("bot", bot["text"]),
    ]
    assert store.id


async def _token_after_one_turn(text):
    """A conversation with one answered message, left: its token."""
    await _store_with_index()
    first = await _connect()
    try:
        token = (await first.receive_json_from(timeout=FRAME_TIMEOUT))["token"]
        await _turn(first, text)
    finally:
        await first.disconnect()
    return token


async def test_reconnecting_with_the_token_restores_the_history(encoder):
    token = await _token_after_one_turn("do you take paypal?")
    second = await _connect(f"/ws/chat/acme/?token={token}")
    try:
        hello = await second.receive_json_from(timeout=FRAME_TIMEOUT)
        assert hello["resumed"] is True
        assert hello["token"] == token
        assert [(m["role"], m["text"][:18]) for m in hello["history"]] == [
            ("shopper", "do you take paypal"),
            ("bot", "We take iDEAL, car"),
        ]
        assert hello["history"][1]["sources"][0]["title"] == "Which payment methods do you accept?"
    finally:
        await second.disconnect()


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        ("{not json", "bad_json"),
        ('["message"]', "bad_frame"),
        ('{"type": "subscribe"}', "unknown_type"),
        ('{"type": "message", "text": "   "}', "empty_message"),
        ('{"type": "message", "text": 42}', "bad_frame"),
        ('{"type": "message", "text": "' + "x" * 2001 + '"}', "message_too_long"),
        ('{"type": "message", "text": "' + "x" * 17_000 + '"}', "frame_too_large"),
    ],
)
async def test_bad_frames_get_an_error_and_the_connection_stays_open(frame, code):
    await database_sync_to_async(make_store)(slug="acme")
    communicator = await _connect()
    try:
        await communicator.receive_json_from(timeout=FRAME_TIMEOUT)
        await communicator.send_to(text_data=frame)
        error = await communicator.receive_json_from(timeout=FRAME_TIMEOUT)
        assert error["type"] == "error"
        assert error["code"] == code
        assert error["message"]
        await communicator.send_json_to({"type": "ping"})
        assert await communicator.receive_json_from(timeout=FRAME_TIMEOUT) == {"type": "pong"}
    finally:
        await communicator.disconnect()
    assert await _messages() == []


async def test_binary_frames_are_refused():
    await database_sync_to_async(make_store)(slug="acme")
    communicator = await _connect()
    try:
        await communicator.receive_json_from(timeout=FRAME_TIMEOUT)
        await communicator.send_to(bytes_data=b"\x00\x01")
        assert (await communicator.receive_json_from(timeout=FRAME_TIMEOUT))["code"] == "bad_frame"
    finally:
        await communicator.disconnect()


async def test_unknown_store_gets_an_error_then_close_4404():
    communicator = await _connect("/ws/chat/nope/")
    try:
        error = await communicator.receive_json_from(timeout=FRAME_TIMEOUT)
        assert error == {
            "type": "error",
            "code": "unknown_store",
            "message": "There is no store called 'nope'.",
        }
        assert await communicator.receive_output() == {"type": "websocket.close", "code": 4404}
    finally:
        await communicator.disconnect()


async def test_foreign_origin_is_rejected():
    await database_sync_to_async(make_store)(slug="acme")
    communicator = WebsocketCommunicator(
        application, "/ws/chat/acme/", headers=[(b"origin", b"https://evil.example")]
    )
    connected, _ = await communicator.connect()
    assert not connected
    await communicator.disconnect()


@pytest.mark.parametrize("case", ["unknown", "other_store", "expired"])
async def test_unusable_token_starts_a_new_conversation_with_a_notice(case):
    @database_sync_to_async
    def setup():
        acme = make_store(slug="acme")
        other = make_store(slug="other")
        from webapp.chat.services import conversation_open

        opened = conversation_open(store=other if case == "other_store" else acme, token=None)
        Message.objects.create(
            store=acme,
            conversation_id=opened.conversation_id,
            role="shopper",
            text="my secret order 123",
        )
        if case == "expired":
            Conversation.objects.filter(id=opened.conversation_id).update(
                last_activity_at=timezone.now() - timedelta(days=30)
            )
        return "not-a-real-token" if case == "unknown" else opened.token

    token = await setup()
    communicator = await _connect(f"/ws/chat/acme/?token={token}")
    try:
        hello = await communicator.receive_json_from(timeout=FRAME_TIMEOUT)
        assert hello["type"] == "conversation"
        assert hello["resumed"] is False
        assert hello["history"] == []  # never another shopper's or an expired history
        assert hello["token"] != token
        expected = "conversation_expired" if case == "expired" else "unknown_conversation"
        assert hello["notice"]["code"] == expected
    finally:
        await communicator.disconnect()


async def test_message_is_kept_when_the_bot_fails(monkeypatch):
    await database_sync_to_async(make_store)(slug="acme")

    def broken_search(**kwargs):
        raise RuntimeError("index unavailable")

    monkeypatch.setattr("webapp.chat.knowledge.kb_search", broken_search)
    communicator = await _connect()
    try:
        await communicator.receive_json_from(timeout=FRAME_TIMEOUT)
        await communicator.send_json_to({"type": "message", "text": "where is my order?"})
        echo = await communicator.receive_json_from(timeout=FRAME_TIMEOUT)
        assert (echo["type"], echo["role"]) == ("message", "shopper")
        assert (await communicator.receive_json_from(timeout=FRAME_TIMEOUT))["type"] == "typing"
        error = await communicator.receive_json_from(timeout=FRAME_TIMEOUT)
        assert error["code"] == "bot_unavailable"
        assert await communicator.receive_json_from(timeout=FRAME_TIMEOUT) == {
            "type": "typing",
            "active": False,
        }
        assert "saved" in error["message"]
    finally:
        await communicator.disconnect()
    assert await _messages() == [("shopper", "where is my order?")]


async def test_store_without_an_index_answers_honestly():
    await database_sync_to_async(make_store)(slug="acme")
    communicator = await _connect()
    try:
        await communicator.receive_json_from(timeout=FRAME_TIMEOUT)
        bot = (await _turn(communicator, "hello?"))[-1]
        assert "ask for a human" in bot["text"]
        assert bot["sources"] == []
    finally:
        await communicator.disconnect()


async def test_two_tabs_of_one_conversation_both_see_each_message(encoder):
    await _store_with_index()
    first = await _connect()
    try:
        token = (await first.receive_json_from(timeout=FRAME_TIMEOUT))["token"]
        second = await _connect(f"/ws/chat/acme/?token={token}")
        try:
            await second.receive_json_from(timeout=FRAME_TIMEOUT)
            await _turn(first, "how do I reset my password")
            seen = []
            while len(seen) < 2:
                frame = await second.receive_json_from(timeout=30)
                if frame["type"] == "message":
                    seen.append(frame["role"])
            assert seen == ["shopper", "bot"]
        finally:
            await second.disconnect()
    finally:
        await first.disconnect()


async def _frames_until(communicator, predicate):
    frames = []
    while True:
        frame = await communicator.receive_json_from(timeout=30)
        frames.append(frame)
        if predicate(frame):
            return frames


async def test_asking_for_a_human_escalates_and_silences_the_bot(encoder):
    await _store_with_index()
    communicator = await _connect()
    try:
        hello = await communicator.receive_json_from(timeout=FRAME_TIMEOUT)
        assert (hello["state"], hello["agent"]) == ("bot", None)
        await communicator.send_json_to({"type": "message", "text": "I want a real person"})
        frames = await _frames_until(communicator, lambda f: f["type"] == "state")
        bot = next(f for f in frames if f.get("role") == "bot")
        assert "member of our team" in bot["text"]
        assert bot["intent"] == "talk_to_human"
        system = next(f for f in frames if f.get("role") == "system")
        assert "queue" in system["text"]
        assert frames[-1] == {"type": "state", "state": "waiting", "agent": None}
        await _frames_until(communicator, lambda f: f == {"type": "typing", "active": False})

        await communicator.send_json_to({"type": "message", "text": "hello?"})
        echo = await communicator.receive_json_from(timeout=FRAME_TIMEOUT)
        assert (echo["role"], echo["text"]) == ("shopper", "hello?")
        # No typing indicator and no bot reply while waiting for a human.
        assert await communicator.receive_nothing(timeout=0.5)
    finally:
        await communicator.disconnect()


async def test_rating_a_bot_answer(encoder):
    await _store_with_index()
    communicator = await _connect()
    try:
        await communicator.receive_json_from(timeout=FRAME_TIMEOUT)
        frames = await _turn(communicator, "how long does shipping take?")
        bot, shopper = frames[-1], frames[0]
        await communicator.send_json_to(
            {"type": "rate", "message_id": bot["message_id"], "value": "down", "comment": "vague"}
        )
        rated = await _frames_until(communicator, lambda f: f["type"] in ("rated", "error"))
        assert rated[-1] == {"type": "rated", "message_id": bot["message_id"], "value": "down"}
        await communicator.send_json_to(
            {"type": "rate", "message_id": shopper["message_id"], "value": "up"}
        )
        error = await _frames_until(communicator, lambda f: f["type"] in ("rated", "error"))
        assert error[-1]["code"] == "unknown_message"
        await communicator.send_json_to({"type": "rate", "message_id": "1; drop", "value": "up"})
        error = await _frames_until(communicator, lambda f: f["type"] in ("rated", "error"))
        assert error[-1]["code"] == "bad_rating"
    finally:
        await communicator.disconnect()
    rating = await database_sync_to_async(lambda: MessageRating.objects.get())()
    assert (rating.value, rating.comment) == ("down", "vague")


async def test_the_token_can_come_in_the_first_frame_instead_of_the_url(encoder):
    """``?resume=1`` then ``{"type": "resume", "token"}``: no token in a URL a proxy logs."""
    token = await _token_after_one_turn("do you take paypal?")
    second = await _connect("/ws/chat/acme/?resume=1")
    try:
        assert await second.receive_nothing(timeout=0.3)  # waits for the token
        await second.send_json_to({"type": "resume", "token": token})
        hello = await second.receive_json_from(timeout=FRAME_TIMEOUT)
        assert (hello["type"], hello["resumed"], hello["token"]) == ("conversation", True, token)
        assert [m["role"] for m in hello["history"]] == ["shopper", "bot"]
    finally:
        await second.disconnect()
    # A wrong token gets a fresh conversation, as in the URL; an older client that sends a
    # message first gets a fresh one and its message handled.
    third = await _connect("/ws/chat/acme/?resume=1")
    try:
        await third.send_json_to({"type": "resume", "token": "forged"})
        hello = await third.receive_json_from(timeout=FRAME_TIMEOUT)
        assert hello["resumed"] is False
        assert hello["token"] != token
    finally:
        await third.disconnect()
    fourth = await _connect("/ws/chat/acme/?resume=1")
    try:
        frames = await _turn(fourth, "how long does shipping take?")
        assert frames[0]["type"] == "conversation"
        assert frames[-1]["role"] == "bot"
    finally:
        await fourth.disconnect()
