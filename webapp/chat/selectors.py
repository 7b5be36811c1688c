"""Reads for conversations."""

from __future__ import annotations

from django.conf import settings

from webapp.chat.models import Message


def conversation_history(*, conversation_id: int) -> list[dict[str, object]]:
    """The latest messages (at most ``CHAT_HISTORY_LIMIT``), oldest first, as payloads."""
    limit = settings.CHAT_HISTORY_LIMIT
    latest = Message.objects.filter(conversation_id=conversation_id).order_by("-id")[:limit]
    return [message.as_payload() for message in reversed(list(latest))]
