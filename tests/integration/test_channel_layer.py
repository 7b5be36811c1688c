"""The chat websocket over the real Redis channel layer."""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator
from channels_redis.core import RedisChannelLayer
from channels_redis.pubsub import RedisPubSubChannelLayer
from django.conf import settings as django_settings

from tests.factories import make_small_kb, make_store
from tests.integration.conftest import run_in_thread
from webapp.asgi import application
from webapp.catalog.models import FaqEntry
from webapp.chat.events import conversation_group
from webapp.chat.models import Conversation
from webapp.chat.services import conversation_open, shopper_message_post
from webapp.kb.services import search_index_build

pytestmark = [
    pytest.mark.services,
    pytest.mark.asyncio,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("close_thread_db_connections"),
]

FRAME_TIMEOUT = 30


LAYERS = {
    # CHANNEL_LAYER_KIND -> the backend the settings choose for it
    "pubsub": RedisPubSubChannelLayer,
    "lists": RedisChannelLayer,
}


@pytest_asyncio.fixture(params=sorted(LAYERS))
async def redis_layer_config(request, settings) -> AsyncIterator[dict[str, Any]]:
    """CHANNEL_LAYERS pointed at Redis (REDIS_URL) with each layer the settings offer (Pub/Sub,
    the default, and the list layer), under a prefix of this test's own, flushed afterwards."""
    assert django_settings.REDIS_URL, "REDIS_URL must be set for the services tests"
    layer = LAYERS[request.param]
    # The project's own host settings (socket options, pool size), under a test prefix.
    config: dict[str, Any] = {
        "hosts": django_settings.CHANNEL_LAYERS["default"]["CONFIG"]["hosts"],
        "prefix": f"shopdesk-test-{uuid.uuid4().hex[:8]}",
    }
    if layer is RedisChannelLayer:
        config.update(capacity=50_000, expiry=30)
    settings.CHANNEL_LAYERS = {
        "default": {"BACKEND": f"{layer.__module__}.{layer.__name__}", "CONFIG": config}
    }
    yield config
    await get_channel_layer().flush()


def _small_store_with_index():
    store = make_store()
    make_small_kb(store)
    search_index_build(store_id=store.id)
    return store


def _conversation_id(token: str) -> int:
    token_hash = hashlib.sha256(token.encode()).hexdigest()
    return Conversation.objects.get(token_hash=token_hash).id


async def _connect(slug: str, query: str = "") -> tuple[WebsocketCommunicator, dict[str, Any]]:
    communicator = WebsocketCommunicator(
        application, f"/ws/chat/{slug}/{query}", headers=[(b"origin", b"http://testserver")]
    )
    connected, _ = await communicator.connect(timeout=FRAME_TIMEOUT)
    assert connected
    opening = await communicator.receive_json_from(timeout=FRAME_TIMEOUT)
    assert opening["type"] == "conversation", opening
    return communicator, opening


def _stored_conversation() -> tuple[str, str, int]:
    store = make_store()
    opened = conversation_open(store=store, token=None)
    return store.slug, opened.token, opened.conversation_id


async def _open_conversation() -> tuple[WebsocketCommunicator, int]:
    """A shopper socket resuming a stored conversation on a new store, and its id (a new
    socket's conversation is stored only with its first message)."""
    slug, token, conversation_id = await database_sync_to_async(_stored_conversation)()
    communicator, opening = await _connect(slug, f"?token={token}")
    assert opening["resumed"] is True, opening
    assert await database_sync_to_async(_conversation_id)(opening["token"]) == conversation_id
    return communicator, conversation_id


async def _receive_message(communicator: WebsocketCommunicator, role: str) -> dict[str, Any]:
    """The next ``message`` frame from ``role``, skipping other frames (typing indicators)."""
    while True:
        frame = await communicator.receive_json_from(timeout=FRAME_TIMEOUT)
        assert frame["type"] != "error", frame
        if frame["type"] == "message" and frame["role"] == role:
            return frame


async def _send_from_outside(
    config: dict[str, Any], conversation_id: int, message: dict[str, Any]
) -> None:
    """A chat message sent to the conversation's group by a layer instance that shares nothing
    with the consumer's but the Redis server."""
    layer = type(get_channel_layer())
    outside = layer(**config)
    assert outside is not get_channel_layer()
    try:
        await outside.group_send(
            conversation_group(conversation_id), {"type": "chat.message", "message": message}
        )
    finally:
        await outside.flush() if layer is RedisPubSubChannelLayer else outside.close_pools()


async def test_layer_is_redis(redis_layer_config) -> None:
    layer = get_channel_layer()
    assert isinstance(layer, (RedisChannelLayer, RedisPubSubChannelLayer))
    assert layer.prefix == redis_layer_config["prefix"]


def test_the_settings_choose_the_pubsub_layer_by_default() -> None:
    assert django_settings.CHANNEL_LAYER_KIND == "pubsub"
    backend = django_settings.CHANNEL_LAYERS["default"]["BACKEND"]
    assert backend == "channels_redis.pubsub.RedisPubSubChannelLayer"


async def test_message_posted_outside_the_consumer_reaches_the_socket(
    redis_layer_config,
) -> None:
    communicator, conversation_id = await _open_conversation()
    try:
        # Another thread with its own event loop and database connection (as a worker or the
        # admin would be): its on-commit push can reach this socket only through Redis.
        posted = await asyncio.to_thread(
            run_in_thread,
            shopper_message_post,
            conversation_id=conversation_id,
            text="Is anyone there?",
        )

        frame = await _receive_message(communicator, "shopper")
        assert frame["text"] == "Is anyone there?"
        assert frame["message_id"] == posted.message.id
    finally:
        await communicator.disconnect()


async def test_group_send_from_a_separate_layer_instance_reaches_the_socket(
    redis_layer_config,
) -> None:
    communicator, conversation_id = await _open_conversation()
    try:
        payload = {"role": "agent", "text": "Hello from the team", "sources": []}
        await _send_from_outside(redis_layer_config, conversation_id, payload)

        frame = await _receive_message(communicator, "agent")
        assert frame == {"type": "message", **payload}
    finally:
        await communicator.disconnect()


@pytest.mark.slow
async def test_a_socket_idle_longer_than_the_blocking_pop_still_gets_messages(
    redis_layer_config,
) -> None:
    """channels-redis blocks 5 s per BZPOPMIN; with redis-py 8's default 5 s read timeout an
    idle consumer crashed ("Timeout reading from redis", close code 1011) after ~5 s."""
    communicator, conversation_id = await _open_conversation()
    try:
        await asyncio.sleep(7)
        payload = {"role": "agent", "text": "Still there?", "sources": []}
        await _send_from_outside(redis_layer_config, conversation_id, payload)
        frame = await _receive_message(communicator, "agent")
        assert frame == {"type": "message", **payload}
    finally:
        await communicator.disconnect()


@pytest.mark.slow
async def test_chat_turn_over_redis_answers_from_the_faq(redis_layer_config, encoder) -> None:
    store = await database_sync_to_async(_small_store_with_index)()
    shipping = await database_sync_to_async(FaqEntry.objects.get)(
        store=store, question="How long does shipping take?"
    )
    communicator, _ = await _connect(store.slug)
    try:
        await communicator.send_json_to({"type": "message", "text": "how long does shipping take?"})
        echo = await _receive_message(communicator, "shopper")
        assert echo["text"] == "how long does shipping take?"

        reply = await _receive_message(communicator, "bot")
        assert reply["text"] == shipping.answer
        assert reply["intent"] == "delivery_time"
        assert {"kind": "faq", "id": shipping.id} in [
            {"kind": source["kind"], "id": source["id"]} for source in reply["sources"]
        ]
        assert reply["message_id"] > echo["message_id"]
    finally:
        await communicator.disconnect()
