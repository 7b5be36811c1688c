"""Reads for conversations and the agents' queue."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db.models import QuerySet

from webapp.chat.models import (
    CannedReply,
    Conversation,
    ConversationState,
    Message,
    agent_display_name,
)
from webapp.stores.selectors import store_ids_for_user


def conversation_history(*, conversation_id: int) -> list[dict[str, object]]:
    """The latest messages (at most ``CHAT_HISTORY_LIMIT``), oldest first, as payloads."""
    limit = settings.CHAT_HISTORY_LIMIT
    latest = (
        Message.objects.filter(conversation_id=conversation_id)
        .select_related("author")
        .order_by("-id")[:limit]
    )
    return [message.as_payload() for message in reversed(list(latest))]


def conversation_state_payload(conversation: Conversation) -> dict[str, object]:
    """The hand-off state as the shopper's widget and the console show it."""
    return {
        "state": conversation.state,
        "agent": agent_display_name(conversation.agent) if conversation.agent_id else None,
    }


def escalation_queue(*, user: Any) -> QuerySet[Conversation]:
    """Conversations waiting for an agent in the user's stores, the longest waiting first."""
    queue = Conversation.objects.filter(state=ConversationState.WAITING)
    ids = store_ids_for_user(user=user)
    if ids is not None:
        queue = queue.filter(store_id__in=ids)
    return queue.order_by("escalated_at", "id")


def escalation_queue_count(*, user: Any) -> int:
    return escalation_queue(user=user).count()


def canned_replies(*, store_id: int) -> QuerySet[CannedReply]:
    return CannedReply.objects.filter(store_id=store_id).order_by("title")
