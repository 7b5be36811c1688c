"""Real-time events to a conversation's websocket group, sent only after the write commits."""

from __future__ import annotations

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction


def conversation_group(conversation_id: int) -> str:
    return f"chat.conversation.{conversation_id}"


def send_message_event_on_commit(*, conversation_id: int, payload: dict[str, object]) -> None:
    """Push a saved message to everyone in the conversation once the transaction commits."""

    def send() -> None:
        layer = get_channel_layer()
        if layer is None:
            return
        async_to_sync(layer.group_send)(
            conversation_group(conversation_id), {"type": "chat.message", "message": payload}
        )

    # robust: a channel-layer outage is logged; the message is saved and shows on reconnect.
    transaction.on_commit(send, robust=True)
