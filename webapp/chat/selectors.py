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


def conversations_export(*, conversation_ids: list[int]) -> list[dict[str, object]]:
    """Everything kept about these conversations, for a shopper who asks for their data: the
    messages as stored (redacted), their ratings, and the hand-off events."""
    from webapp.chat.models import Conversation, MessageRating

    conversations = (
        Conversation.objects.filter(id__in=conversation_ids)
        .select_related("store")
        .prefetch_related("messages__author", "events")
        .order_by("id")
    )
    ratings = {
        rating.message_id: rating
        for rating in MessageRating.objects.filter(message__conversation_id__in=conversation_ids)
    }
    exported = []
    for conversation in conversations:
        messages = []
        for message in sorted(conversation.messages.all(), key=lambda m: m.id):
            entry: dict[str, object] = {
                "role": message.role,
                "text": message.text,
                "created_at": message.created_at.isoformat(),
            }
            if message.author_id:
                entry["author"] = agent_display_name(message.author) or "a member of our team"
            rating = ratings.get(message.id)
            if rating is not None:
                entry["rating"] = {"value": rating.value, "comment": rating.comment}
            messages.append(entry)
        exported.append(
            {
                "id": conversation.id,
                "store": conversation.store.slug,
                "state": conversation.state,
                "created_at": conversation.created_at.isoformat(),
                "last_activity_at": conversation.last_activity_at.isoformat(),
                "messages": messages,
                "events": [
                    {"event": e.event, "to": e.to_state, "created_at": e.created_at.isoformat()}
                    for e in sorted(conversation.events.all(), key=lambda e: e.id)
                ],
            }
        )
    return exported
