"""Writes for the chat: opening conversations, saving messages, the bot's turn."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from webapp.chat.bot import Thresholds, decide_reply
from webapp.chat.events import send_message_event_on_commit
from webapp.chat.models import Conversation, Message, Role
from webapp.chat.selectors import conversation_history
from webapp.kb.selectors import kb_search
from webapp.stores.models import Store


class ChatError(ValueError):
    """A shopper-facing error with a protocol ``code``."""

    code = "bad_request"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        if code:
            self.code = code


@dataclass(frozen=True)
class OpenedConversation:
    conversation_id: int
    token: str
    resumed: bool
    history: list[dict[str, object]]
    notice: dict[str, str] | None = None


def _hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _expired(conversation: Conversation) -> bool:
    ttl = timedelta(hours=settings.CHAT_CONVERSATION_TTL_HOURS)
    return conversation.last_activity_at < timezone.now() - ttl


def conversation_open(*, store: Store, token: str | None) -> OpenedConversation:
    """Resume the conversation ``token`` names, or start a new one.

    An unknown token, another store's token or an expired one starts a fresh conversation and
    says why in ``notice``; the old conversation is never shown.
    """
    notice = None
    if token:
        conversation = Conversation.objects.filter(token_hash=_hash_token(token)).first()
        if conversation is None or conversation.store_id != store.id:
            notice = {
                "code": "unknown_conversation",
                "message": "We couldn't find your earlier conversation, so we started a new one.",
            }
        elif _expired(conversation):
            notice = {
                "code": "conversation_expired",
                "message": "Your earlier conversation has expired, so we started a new one.",
            }
        else:
            return OpenedConversation(
                conversation.id,
                token,
                resumed=True,
                history=conversation_history(conversation_id=conversation.id),
            )
    new_token = secrets.token_urlsafe(32)
    conversation = Conversation.objects.create(
        store=store, token_hash=_hash_token(new_token), last_activity_at=timezone.now()
    )
    return OpenedConversation(conversation.id, new_token, resumed=False, history=[], notice=notice)


def message_text_clean(text: object) -> str:
    if not isinstance(text, str):
        raise ChatError("The message text must be a string.", code="bad_frame")
    cleaned = text.strip()
    if not cleaned:
        raise ChatError("The message is empty.", code="empty_message")
    if len(cleaned) > settings.CHAT_MAX_MESSAGE_CHARS:
        raise ChatError(
            f"Messages can be at most {settings.CHAT_MAX_MESSAGE_CHARS} characters.",
            code="message_too_long",
        )
    return cleaned


@transaction.atomic
def shopper_message_post(*, conversation_id: int, text: object) -> Message:
    """Validate and save a shopper's message before anything else happens to it."""
    cleaned = message_text_clean(text)
    conversation = Conversation.objects.select_for_update().get(id=conversation_id)
    if _expired(conversation):
        raise ChatError(
            "This conversation has expired. Reload the page to start a new one.",
            code="conversation_expired",
        )
    message = Message.objects.create(
        store_id=conversation.store_id, conversation=conversation, role=Role.SHOPPER, text=cleaned
    )
    conversation.last_activity_at = timezone.now()
    conversation.save(update_fields=["last_activity_at"])
    send_message_event_on_commit(conversation_id=conversation.id, payload=message.as_payload())
    return message


def bot_reply(*, conversation_id: int, message_id: int) -> Message:
    """The bot's turn for one saved shopper message: search, decide, save, push.

    The search runs outside the transaction: it encodes (~10 ms) and must not hold row locks.
    """
    shopper_message = Message.objects.select_related("conversation").get(
        id=message_id, conversation_id=conversation_id
    )
    store_id = shopper_message.store_id
    sources = kb_search(store_id=store_id, query=shopper_message.text, k=5)
    reply = decide_reply(sources, thresholds=Thresholds(faq=settings.CHAT_ANSWER_MIN_SCORE))
    with transaction.atomic():
        message = Message.objects.create(
            store_id=store_id,
            conversation_id=conversation_id,
            role=Role.BOT,
            text=reply.text,
            sources=[source.as_source() for source in reply.sources],
            intent=reply.intent or "",
            confidence=reply.confidence,
        )
        send_message_event_on_commit(conversation_id=conversation_id, payload=message.as_payload())
    return message
