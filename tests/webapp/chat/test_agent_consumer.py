"""The agent's live websocket: sees the shopper live, replies reach the shopper's socket."""

from __future__ import annotations

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator

from tests.factories import make_store
from webapp.asgi import application
from webapp.chat.consumers import AgentConsumer
from webapp.chat.models import Conversation
from webapp.chat.services import conversation_claim, conversation_escalate
from webapp.stores.services import store_user_upsert

# Generous: a loaded 2-core CI machine can take seconds for a frame; a passing test never waits.
FRAME_TIMEOUT = 10


pytestmark = [
    pytest.mark.asyncio,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("close_thread_db_connections", "in_memory_channel_layer"),
]

ORIGIN = [(b"origin", b"http://testserver")]


@database_sync_to_async
def _setup():
    store = make_store(slug="acme", name="Acme")
    agent = store_user_upsert(store=store, username="alex", password="pw", role="agent").user
    agent.first_name = "Alex"
    agent.save(update_fields=["first_name"])
    other_store = make_store(slug="other")
    stranger = store_user_upsert(
        store=other_store, username="eve", password="pw", role="agent"
    ).user
    return agent, stranger


def _agent_socket(conversation_id, user):
    communicator = WebsocketCommunicator(
        AgentConsumer.as_asgi(), f"/ws/agent/conversations/{conversation_id}/"
    )
    communicator.scope["user"] = user
    communicator.scope["url_route"] = {"kwargs": {"conversation_id": conversation_id}}
    return communicator


async def _until(communicator, predicate):
    while True:
        frame = await communicator.receive_json_from(timeout=10)
        if predicate(frame):
            return frame


async def test_agent_sees_the_shopper_live_and_the_shopper_sees_the_reply(encoder):
    agent, _ = await _setup()
    shopper = WebsocketCommunicator(application, "/ws/chat/acme/", headers=ORIGIN)
    await shopper.connect()
    hello = await shopper.receive_json_from(timeout=FRAME_TIMEOUT)
    # A conversation gets its row with its first message, not at connect.
    assert await database_sync_to_async(Conversation.objects.count)() == 0
    await shopper.send_json_to({"type": "message", "text": "hello"})
    await _until(shopper, lambda f: f["type"] == "message" and f["role"] == "bot")
    conversation_id = await database_sync_to_async(lambda: Conversation.objects.get().id)()
    await database_sync_to_async(conversation_escalate)(
        conversation_id=conversation_id, reason="asked for a human"
    )
    console = _agent_socket(conversation_id, agent)
    try:
        connected, _ = await console.connect()
        assert connected
        assert (await console.receive_json_from(timeout=FRAME_TIMEOUT))["type"] == "ready"

        await shopper.send_json_to({"type": "message", "text": "anyone there?"})
        seen = await _until(console, lambda f: f["type"] == "message")
        assert (seen["role"], seen["text"]) == ("shopper", "anyone there?")

        await console.send_json_to({"type": "message", "text": "too early"})
        error = await _until(console, lambda f: f["type"] == "error")
        assert error["code"] == "not_claimed"

        await database_sync_to_async(conversation_claim)(
            conversation_id=conversation_id, agent=agent
        )
        state = await _until(shopper, lambda f: f["type"] == "state" and f["state"] == "agent")
        assert state == {"type": "state", "state": "agent", "agent": "Alex"}
        await console.send_json_to({"type": "message", "text": "Hi, Alex here"})
        reply = await _until(shopper, lambda f: f["type"] == "message" and f["role"] == "agent")
        assert (reply["text"], reply["author"]) == ("Hi, Alex here", "Alex")

        await shopper.disconnect()
        presence = await _until(console, lambda f: f["type"] == "presence")
        assert presence == {"type": "presence", "online": False}
    finally:
        await console.disconnect()
    assert hello["state"] == "bot"


async def test_anonymous_and_foreign_agents_are_refused():
    agent, stranger = await _setup()
    conversation_id = await database_sync_to_async(
        lambda: (
            Conversation.objects.create(
                store_id=agent.store_memberships.get().store_id,
                token_hash="y" * 64,
                last_activity_at="2026-11-24T10:00:00Z",
            ).id
        )
    )()
    from django.contrib.auth.models import AnonymousUser

    for user in (AnonymousUser(), stranger):
        console = _agent_socket(conversation_id, user)
        await console.connect()
        frame = await console.receive_json_from(timeout=FRAME_TIMEOUT)
        assert frame["code"] == "forbidden"
        closed = await console.receive_output()
        assert closed == {"type": "websocket.close", "code": 4403}
        await console.disconnect()
