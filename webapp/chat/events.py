"""Real-time events to websocket groups, sent only after the write commits.

Two kinds of group: one per conversation (the shopper's tabs and any agent watching it) and one
per store for the agents' queue. Every consumer in a group handles every event type sent to it.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction


def conversation_group(conversation_id: int) -> str:
    return f"chat.conversation.{conversation_id}"


def pending_group(token: str) -> str:
    """The tabs of a conversation that has no row yet, named by its token's hash (group names
    are ASCII, at most 100 characters; the token itself must not travel to Redis)."""
    import hashlib

    return f"chat.pending.{hashlib.sha256(token.encode()).hexdigest()[:40]}"


def queue_group(store_id: int) -> str:
    return f"chat.queue.{store_id}"


# The event loop of the server process, for code running in the chat's threads (set by
# ``webapp.chat.capacity`` around each call it sends to a thread).
serving_loop: contextvars.ContextVar[asyncio.AbstractEventLoop | None] = contextvars.ContextVar(
    "serving_loop", default=None
)
# Per group, the last send scheduled on the serving loop: the next one waits for it, so a
# group's events arrive in the order they were committed.
_tails: dict[str, asyncio.Future[None]] = {}

logger = logging.getLogger(__name__)


def _group_send_on_commit(group: str, event: dict[str, Any]) -> None:
    def send() -> None:
        layer = get_channel_layer()
        if layer is None:
            return
        loop = serving_loop.get()
        if loop is None or loop.is_closed():
            async_to_sync(layer.group_send)(group, event)
            return
        # From a chat thread: hand the send to the loop and go on. Waiting for it, as
        # async_to_sync does, kept the thread and its database connection until the loop got
        # round to it: under a crowd, threads spent most of their time there, and the pool ran
        # out of connections.
        loop.call_soon_threadsafe(_chain_send, loop, layer, group, event)

    # robust: a channel-layer outage is logged; the data is saved and shows on reconnect.
    transaction.on_commit(send, robust=True)


async def group_send_in_order(group: str, event: dict[str, Any]) -> None:
    """``group_send`` from the loop, after every event already handed over for ``group`` (a
    turn's reply, its escalation notice), so e.g. "typing off" never overtakes the reply."""
    layer = get_channel_layer()
    if layer is None:
        return
    await _chain_send(asyncio.get_running_loop(), layer, group, event)


def _chain_send(
    loop: asyncio.AbstractEventLoop, layer: Any, group: str, event: dict[str, Any]
) -> asyncio.Future[None]:
    previous = _tails.get(group)
    if previous is not None and (previous.done() or previous.get_loop() is not loop):
        previous = None  # finished, or left behind by a loop that has gone (tests)
    task = loop.create_task(_send_after(previous, layer, group, event))
    _tails[group] = task

    def forget(done: asyncio.Future[None]) -> None:
        if _tails.get(group) is done:
            del _tails[group]

    task.add_done_callback(forget)
    return task


async def _send_after(
    previous: asyncio.Future[None] | None, layer: Any, group: str, event: dict[str, Any]
) -> None:
    if previous is not None:
        await asyncio.wait([previous])
    try:
        await layer.group_send(group, event)
    except Exception:
        logger.exception("could not send %s to %s; it shows on reconnect", event["type"], group)


def send_message_event_on_commit(*, conversation_id: int, payload: dict[str, object]) -> None:
    """Push a saved message to everyone in the conversation once the transaction commits."""
    _group_send_on_commit(
        conversation_group(conversation_id), {"type": "chat.message", "message": payload}
    )


def send_state_event_on_commit(
    *, conversation_id: int, store_id: int, state: dict[str, object]
) -> None:
    """A hand-off state change: to the conversation, and to the store's queue watchers."""
    _group_send_on_commit(conversation_group(conversation_id), {"type": "chat.state", **state})
    _group_send_on_commit(
        queue_group(store_id),
        {"type": "chat.queue", "conversation_id": conversation_id, **state},
    )


def send_presence_event_on_commit(*, conversation_id: int, online: bool) -> None:
    _group_send_on_commit(
        conversation_group(conversation_id), {"type": "chat.presence", "online": online}
    )
