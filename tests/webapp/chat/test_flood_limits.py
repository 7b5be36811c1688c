"""Floods get a clear frame, cost no database work, and leave everyone else alone: connects
per client address, messages per socket."""

from __future__ import annotations

import itertools

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator

from tests.factories import make_indexed_store
from webapp.asgi import application
from webapp.chat.consumers import CLOSE_RATE_LIMITED
from webapp.chat.models import Conversation, Message
from webapp.common.ratelimit import TokenBucket, window_allows

ORIGIN = [(b"origin", b"http://testserver")]
_addresses = (f"203.0.113.{n}" for n in itertools.count(1))  # TEST-NET-3, one per test


def _socket(ip: str) -> WebsocketCommunicator:
    socket = WebsocketCommunicator(application, "/ws/chat/acme/", headers=ORIGIN)
    socket.scope["client"] = (ip, 40000)  # read by the consumer when it connects
    return socket


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("close_thread_db_connections", "in_memory_channel_layer")
async def test_connects_over_the_per_address_limit_are_refused_with_a_frame(settings, encoder):
    settings.CHAT_CONNECTS_PER_MINUTE_PER_IP = 3
    await database_sync_to_async(make_indexed_store)(slug="acme", name="Acme")
    flooder, neighbour = next(_addresses), next(_addresses)
    opened = []
    for _ in range(3):
        socket = _socket(flooder)
        assert (await socket.connect())[0]
        assert (await socket.receive_json_from(timeout=10))["type"] == "conversation"
        opened.append(socket)
    refused = _socket(flooder)
    await refused.connect()
    frame = await refused.receive_json_from(timeout=10)
    assert frame["code"] == "rate_limited"
    assert frame["retry_after"] >= 1
    assert "try again in" in frame["message"]
    assert (await refused.receive_output(timeout=10)) == {
        "type": "websocket.close",
        "code": CLOSE_RATE_LIMITED,
    }
    # Far over the limit (twice it, in this process), the handshake itself is refused.
    for _ in range(2):  # connects 5 and 6: still the frame
        extra = _socket(flooder)
        await extra.connect()
        assert (await extra.receive_json_from(timeout=10))["code"] == "rate_limited"
    flood = _socket(flooder)
    connected, _ = await flood.connect()
    assert connected is False
    # Another address, and the sockets already open, are not affected.
    other = _socket(neighbour)
    await other.connect()
    assert (await other.receive_json_from(timeout=10))["type"] == "conversation"
    await opened[0].send_json_to({"type": "ping"})
    assert (await opened[0].receive_json_from(timeout=10))["type"] == "pong"
    for socket in [*opened, other]:
        await socket.disconnect()
    # Lazy rows: connecting, refused or not, created no conversation.
    assert await database_sync_to_async(Conversation.objects.count)() == 0


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("close_thread_db_connections", "in_memory_channel_layer")
async def test_messages_over_the_per_socket_limit_are_refused_and_the_socket_stays(
    settings, encoder
):
    settings.CHAT_MESSAGES_PER_MINUTE = 6
    settings.CHAT_MESSAGE_BURST = 2
    await database_sync_to_async(make_indexed_store)(slug="acme", name="Acme")
    socket = _socket(next(_addresses))
    await socket.connect()
    await socket.receive_json_from(timeout=10)
    for n in range(5):
        await socket.send_json_to({"type": "message", "text": f"how long does shipping take {n}?"})
    await socket.send_json_to({"type": "ping"})
    frames: list[dict] = []

    def replies() -> int:
        return sum(f["type"] == "message" and f["role"] == "bot" for f in frames)

    while not any(f["type"] == "pong" for f in frames) or replies() < 2:
        frames.append(await socket.receive_json_from(timeout=30))
    refused = [f for f in frames if f["type"] == "error"]
    assert [f["code"] for f in refused] == ["rate_limited"] * 3
    assert "not sent" in refused[0]["message"]
    shopper = await database_sync_to_async(
        lambda: list(Message.objects.filter(role="shopper").values_list("text", flat=True))
    )()
    assert shopper == ["how long does shipping take 0?", "how long does shipping take 1?"]
    await socket.disconnect()


def test_the_token_bucket_gives_a_burst_then_the_rate(monkeypatch):
    clock = [1000.0]
    monkeypatch.setattr("webapp.common.ratelimit.time.monotonic", lambda: clock[0])
    bucket = TokenBucket(per_minute=30, burst=3)
    assert [bucket.take().allowed for _ in range(4)] == [True, True, True, False]
    assert bucket.take().retry_after_s == 2  # one token every 2 s
    clock[0] += 2.0
    assert bucket.take().allowed
    assert not bucket.take().allowed
    assert TokenBucket(per_minute=0, burst=1).take().allowed  # 0: no limit


def test_the_window_counts_per_key_and_resets(monkeypatch):
    clock = [6000.0]
    monkeypatch.setattr("webapp.common.ratelimit.time.time", lambda: clock[0])
    key = next(_addresses)
    assert [window_allows("t", key, limit=2).allowed for _ in range(3)] == [True, True, False]
    assert window_allows("t", next(_addresses), limit=2).allowed
    clock[0] += 60
    assert window_allows("t", key, limit=2).allowed
