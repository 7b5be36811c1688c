"""Real-time events to websocket groups, sent only after the write commits.

Two kinds of group: one per conversation (the shopper's tabs and any agent watching it) and one
per store for the agents' queue. Every consumer in a group handles every event type sent to it.
"""

from __future__ import annotations

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


def _group_send_on_commit(group: str, event: dict[str, Any]) -> None:
    def send() -> None:
        layer = get_channel_layer()
        if layer is None:
            return
        async_to_sync(layer.group_send)(group, event)

    # robust: a channel-layer outage is logged; the data is saved and shows on reconnect.
    transaction.on_commit(send, robust=True)


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
