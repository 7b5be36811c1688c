"""Drill: the Redis channel layer restarts in the middle of a chat.

daphne runs on a throw-away Redis of the test's own. A shopper chats, Redis is stopped, the
shopper writes again, Redis comes back and the shopper's widget reconnects with its token: no
message the shopper sent is lost (each is stored, or was refused with an error frame), the
history after the reconnect holds them, and the bot answers again.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from typing import Any

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from tests.factories import make_indexed_store
from tests.integration.conftest import (
    _stop,
    _worker_environment,
    redis_pings,
    throwaway_redis,
    wait_until,
)
from tests.servers import free_port, port_listening, start_daphne
from webapp.chat.models import Message

pytestmark = [pytest.mark.services, pytest.mark.slow, pytest.mark.django_db(transaction=True)]
FIRST, DURING, AFTER = (
    "how long does shipping take?",
    "and can I return a kettle?",
    "do you ship to Belgium?",
)


async def _frames_until(socket: Any, done: Any, seconds: float) -> list[dict]:
    """Frames until ``done(frames)``, the socket closes, or ``seconds`` pass."""
    frames: list[dict] = []
    with contextlib.suppress(TimeoutError, ConnectionClosed):
        async with asyncio.timeout(seconds):
            while not done(frames):
                frames.append(json.loads(await socket.recv()))
    return frames


def _bot_replied(frames: list[dict]) -> bool:
    return any(f["type"] == "message" and f["role"] == "bot" for f in frames)


async def _chat(url: str, origin: str, stop_redis: Any, start_redis: Any) -> dict[str, Any]:
    async with connect(url, origin=origin, open_timeout=20) as socket:
        hello = json.loads(await socket.recv())
        token = hello["token"]
        await socket.send(json.dumps({"type": "message", "text": FIRST}))
        first = await _frames_until(socket, _bot_replied, 30)
        stop_redis()
        await socket.send(json.dumps({"type": "message", "text": DURING}))
        during = await _frames_until(socket, _bot_replied, 8)
    start_redis()
    back = time.monotonic()
    resumed = None
    while resumed is None and time.monotonic() - back < 60:
        try:
            async with connect(f"{url}?token={token}", origin=origin, open_timeout=10) as socket:
                hello = json.loads(await asyncio.wait_for(socket.recv(), 10))
                if hello.get("type") != "conversation":
                    raise ConnectionError(str(hello))
                await socket.send(json.dumps({"type": "message", "text": AFTER}))
                after = await _frames_until(socket, _bot_replied, 30)
                resumed = {"hello": hello, "after": after, "seconds": time.monotonic() - back}
        except (OSError, ConnectionClosed, TimeoutError):
            await asyncio.sleep(1)
    return {"first": first, "during": during, "resumed": resumed}


def test_a_redis_restart_mid_chat_loses_no_message(settings, tmp_path, encoder):
    make_indexed_store(slug="acme", name="Acme")
    redis_port, web_port = free_port(), free_port()
    extra = {"REDIS_URL": f"redis://127.0.0.1:{redis_port}/0"}
    redis_server = [throwaway_redis(redis_port, tmp_path / "redis.log")]
    web = start_daphne(_worker_environment(settings, extra), tmp_path / "daphne.log", web_port)

    def stop_redis() -> None:
        redis_server[0].terminate()
        redis_server[0].wait(timeout=10)
        assert not redis_pings(redis_port)

    def start_redis() -> None:
        redis_server[0] = throwaway_redis(redis_port, tmp_path / "redis.log")

    try:
        wait_until(lambda: port_listening(web_port), timeout=60, what="daphne")
        outcome = asyncio.run(
            _chat(
                f"ws://127.0.0.1:{web_port}/ws/chat/acme/",
                f"http://127.0.0.1:{web_port}",
                stop_redis,
                start_redis,
            )
        )
    finally:
        _stop(web)
        redis_server[0].terminate()
        redis_server[0].wait(timeout=10)
    assert _bot_replied(outcome["first"])
    resumed = outcome["resumed"]
    assert resumed is not None, (tmp_path / "daphne.log").read_text()[-3000:]
    assert _bot_replied(resumed["after"])  # the bot answers again
    stored = list(
        Message.objects.filter(role="shopper").order_by("id").values_list("text", flat=True)
    )
    refused = [f for f in outcome["during"] if f["type"] == "error" and "saved" not in f["message"]]
    # Nothing lost: the message written during the outage is stored, or was refused openly.
    assert stored[:1] == [FIRST]
    assert stored[-1] == AFTER
    assert DURING in stored or refused, outcome["during"]
    history = [m["text"] for m in resumed["hello"]["history"] if m["role"] == "shopper"]
    assert [t for t in history if t in {FIRST, DURING}] == [
        t for t in stored if t in {FIRST, DURING}
    ]
    got = [f"{f['type']}:{f.get('code', f.get('role', ''))}" for f in outcome["during"]]
    print(f"reconnected {resumed['seconds']:.1f} s after Redis came back; during it: {got}")
