"""Writes for the chat: conversations, messages, the bot's turn, and the hand-off to agents."""

from __future__ import annotations

import hashlib
import logging
import secrets
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core import signing
from django.db import transaction
from django.utils import timezone

from webapp.chat import states
from webapp.chat.events import (
    send_message_event_on_commit,
    send_presence_event_on_commit,
    send_state_event_on_commit,
)
from webapp.chat.knowledge import StoreKnowledge
from webapp.chat.models import (
    Conversation,
    ConversationEvent,
    ConversationState,
    Message,
    MessageRating,
    RatingValue,
    Role,
    agent_display_name,
    agent_staff_name,
)
from webapp.chat.selectors import conversation_history, conversation_state_payload
from webapp.common.observability import REPLIES, observe_escalation
from webapp.common.readiness import readiness_wait
from webapp.common.text import text_storable
from webapp.stores.models import Store
from webapp.stores.permissions import InStore
from webapp.stores.selectors import store_get_by_slug

logger = logging.getLogger(__name__)


class ChatError(ValueError):
    """A shopper-facing error with a protocol ``code``."""

    code = "bad_request"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        if code:
            self.code = code


@dataclass(frozen=True)
class OpenedConversation:
    # None until the shopper's first message creates the row (``conversation_start``).
    conversation_id: int | None
    token: str
    resumed: bool
    history: list[dict[str, object]]
    state: dict[str, object]
    notice: dict[str, str] | None = None
    store_id: int | None = None


def _hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _token_signer(store_id: int) -> signing.Signer:
    return signing.Signer(salt=f"shopdesk.chat.conversation.{store_id}")


def _new_token(store_id: int) -> str:
    """256 random bits, signed for the store: a shopper who comes back before writing anything
    (there is no row yet) is recognised without a database write at connect."""
    return _token_signer(store_id).sign(secrets.token_urlsafe(32))


def _issued_by_us(token: str, store_id: int) -> bool:
    try:
        _token_signer(store_id).unsign(token)
    except signing.BadSignature:
        return False
    return True


def _expired(conversation: Conversation) -> bool:
    ttl = timedelta(hours=settings.CHAT_CONVERSATION_TTL_HOURS)
    return conversation.last_activity_at < timezone.now() - ttl


def conversation_open(
    *, store: Store, token: str | None, create: bool = True
) -> OpenedConversation:
    """Resume the conversation ``token`` names, or start a new one.

    An unknown token, another store's token or an expired one starts a fresh conversation and
    says why in ``notice``; the old conversation is never shown. With ``create=False`` (the
    shopper's socket) a new conversation gets its token but no row until its first message,
    so a connect costs one read; a token we issued that has no row yet resumes as it was.
    """
    notice = None
    if token:
        conversation = Conversation.objects.filter(token_hash=_hash_token(token)).first()
        if conversation is None and not create and _issued_by_us(token, store.id):
            return _unsaved(store, token)
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
                state=conversation_state_payload(conversation),
                store_id=store.id,
            )
    new_token = _new_token(store.id)
    if not create:
        return replace(_unsaved(store, new_token), notice=notice)
    conversation = Conversation.objects.create(
        store=store, token_hash=_hash_token(new_token), last_activity_at=timezone.now()
    )
    return OpenedConversation(
        conversation.id,
        new_token,
        resumed=False,
        history=[],
        state=conversation_state_payload(conversation),
        notice=notice,
        store_id=store.id,
    )


def _unsaved(store: Store, token: str) -> OpenedConversation:
    return OpenedConversation(
        None,
        token,
        resumed=False,
        history=[],
        state={"state": ConversationState.BOT.value, "agent": None},
        store_id=store.id,
    )


def conversation_connect(*, store_slug: str, token: str | None) -> OpenedConversation | None:
    """A shopper's socket opened: the store (None if there is none), their conversation, and
    their presence for the agents, in one call (one thread hop, 1-3 queries)."""
    store = store_get_by_slug(slug=store_slug)
    if store is None:
        return None
    opened = conversation_open(store=store, token=token, create=False)
    if opened.conversation_id is not None:
        conversation_presence_set(conversation_id=opened.conversation_id, online=True)
    return opened


def conversation_start(*, store_id: int, token: str) -> int:
    """The row for a conversation whose first message is arriving; the same row if another tab
    with the same token got there first."""
    conversation, _ = Conversation.objects.get_or_create(
        token_hash=_hash_token(token),
        defaults={"store_id": store_id, "last_activity_at": timezone.now(), "shopper_online": True},
    )
    if conversation.store_id != store_id:  # a hash collision across stores: never shared
        raise ChatError("This conversation belongs to another store.", code="forbidden")
    return conversation.id


def message_text_clean(text: object) -> str:
    if not isinstance(text, str):
        raise ChatError("The message text must be a string.", code="bad_frame")
    cleaned = text_storable(text).strip()
    if not cleaned:
        raise ChatError("The message is empty.", code="empty_message")
    if len(cleaned) > settings.CHAT_MAX_MESSAGE_CHARS:
        raise ChatError(
            f"Messages can be at most {settings.CHAT_MAX_MESSAGE_CHARS} characters.",
            code="message_too_long",
        )
    return cleaned


class ConversationStateError(ChatError):
    """A hand-off move that the conversation's current state doesn't allow."""

    code = "bad_state"


class ClaimConflict(ConversationStateError):
    """Another agent holds the conversation."""

    code = "claimed"


@dataclass(frozen=True)
class PostedMessage:
    message: Message
    # False while a human has the conversation (or is coming): the bot stays silent.
    bot_answers: bool
    # The text before redaction, for this turn's bot only; never stored.
    raw_text: str


@transaction.atomic
def shopper_message_post(*, conversation_id: int, text: object) -> PostedMessage:
    """Validate, redact and save a shopper's message before anything else happens to it.

    Personal data (emails, phone, card and bank numbers) is replaced before the text is
    stored; the caller keeps the original in memory for this one turn (an order lookup
    needs the email). A message after "resolved" reopens the conversation with the bot.
    """
    from nlp.pii import redact

    cleaned = message_text_clean(text)
    conversation = Conversation.objects.select_for_update().get(id=conversation_id)
    if _expired(conversation):
        raise ChatError(
            "This conversation has expired. Reload the page to start a new one.",
            code="conversation_expired",
        )
    redacted = redact(cleaned)
    message = Message.objects.create(
        store_id=conversation.store_id,
        conversation=conversation,
        role=Role.SHOPPER,
        text=redacted.text,
        redactions=list(redacted.kinds),
    )
    conversation.last_activity_at = timezone.now()
    conversation.save(update_fields=["last_activity_at"])
    send_message_event_on_commit(conversation_id=conversation.id, payload=message.as_payload())
    if conversation.state == ConversationState.RESOLVED:
        _transition(conversation, states.REOPEN, reason="the shopper wrote again")
    return PostedMessage(
        message, bot_answers=conversation.state in states.BOT_ANSWERS, raw_text=cleaned
    )


# A turn arriving while the process still warms waits this long for it, then goes ahead.
WARMUP_WAIT_SECONDS = 60.0


def bot_reply(
    *, conversation_id: int, message_id: int, raw_text: str | None = None
) -> Message | None:
    """The bot's turn for one saved shopper message; None when a human has the conversation.

    ``raw_text`` is the message before redaction, held in memory for this turn only. The model
    and the search run outside the transaction (~10 ms each on CPU) so no row lock is held
    while they work; the state is checked again under the lock before the reply is saved, so
    an agent who claimed the conversation meanwhile is never talked over.
    """
    from nlp.sentiment_lexicon import polarity
    from webapp.chat.bot import Thresholds, Turn, decide
    from webapp.chat.inference import intent_predict
    from webapp.intents.selectors import intent_classifier_live

    readiness_wait(WARMUP_WAIT_SECONDS)
    shopper_message = Message.objects.select_related("conversation__store").get(
        id=message_id, conversation_id=conversation_id, role=Role.SHOPPER
    )
    conversation = shopper_message.conversation
    if conversation.state not in states.BOT_ANSWERS:
        return None
    text = raw_text or shopper_message.text
    classifier = intent_classifier_live(store_id=conversation.store_id, wait=False)
    knowledge = StoreKnowledge(conversation.store)
    prediction = (
        intent_predict(classifier, text, knowledge.vector) if classifier is not None else None
    )
    turn = Turn(
        text=text,
        prediction=prediction,
        polarity=polarity(text),
        slots=conversation.slots,
        low_confidence_turns=conversation.low_confidence_turns,
    )
    reply = decide(
        turn,
        knowledge,
        thresholds=Thresholds(
            faq=settings.CHAT_ANSWER_MIN_SCORE, very_negative=settings.CHAT_VERY_NEGATIVE
        ),
    )
    with transaction.atomic():
        conversation = Conversation.objects.select_for_update().get(id=conversation_id)
        if conversation.state not in states.BOT_ANSWERS:
            return None
        if prediction is not None:
            shopper_message.intent = prediction.intent or ""
            shopper_message.confidence = prediction.confidence
            shopper_message.save(update_fields=["intent", "confidence"])
        message = Message.objects.create(
            store_id=conversation.store_id,
            conversation_id=conversation_id,
            role=Role.BOT,
            text=reply.text,
            sources=[source.as_source() for source in reply.sources],
            intent=reply.intent or "",
            confidence=reply.confidence,
        )
        conversation.slots = reply.slots
        conversation.low_confidence_turns = (
            conversation.low_confidence_turns + 1 if reply.unsure else 0
        )
        conversation.last_intent = reply.intent or conversation.last_intent
        conversation.save(update_fields=["slots", "low_confidence_turns", "last_intent"])
        send_message_event_on_commit(conversation_id=conversation_id, payload=message.as_payload())
        if reply.escalate:
            _transition(conversation, states.ESCALATE, reason=reply.escalate)
    REPLIES.labels(action=reply.action or ("unsure" if reply.unsure else "other")).inc()
    return message


# --- The hand-off ---------------------------------------------------------------------------

# The shopper's notice of each move: with the agent's first name, and without one.
_SYSTEM_TEXT = {
    states.ESCALATE: (
        "You're in the queue for a member of our team. They'll see everything you've written here.",
    )
    * 2,
    states.CLAIM: (
        "{agent} from our team has joined the conversation.",
        "A member of our team has joined the conversation.",
    ),
    states.HAND_BACK: (
        "{agent} has handed you back to the assistant.",
        "A member of our team has handed you back to the assistant.",
    ),
    states.RESOLVE: (
        "{agent} marked this conversation as resolved. Write again any time and the assistant "
        "will pick it up.",
        "A member of our team marked this conversation as resolved. Write again any time and "
        "the assistant will pick it up.",
    ),
}


def _transition(
    conversation: Conversation, event: str, *, actor: Any = None, reason: str = ""
) -> None:
    """Move a conversation (already locked by the caller) and tell everyone after commit."""
    before = conversation.state
    after = states.next_state(event, before)
    if after is None:
        label = ConversationState(before).label.lower()
        raise ConversationStateError(f"A conversation that is {label!r} can't be {event}ed.")
    now = timezone.now()
    conversation.state = after
    if event == states.ESCALATE:
        conversation.escalated_at = now
        conversation.escalation_reason = reason[:200]
        observe_escalation(reason)
    if event == states.CLAIM:
        conversation.agent = actor
        if conversation.escalated_at is None:
            conversation.escalated_at = now
            conversation.escalation_reason = "taken over by an agent"
    if after in (ConversationState.BOT, ConversationState.RESOLVED):
        conversation.agent = None
        conversation.escalated_at = None
        conversation.escalation_reason = ""
    if after == ConversationState.BOT or event == states.ESCALATE:
        conversation.slots = {}
        conversation.low_confidence_turns = 0
    conversation.last_activity_at = now
    conversation.save()
    ConversationEvent.objects.create(
        conversation=conversation,
        event=event,
        from_state=before,
        to_state=after,
        actor=actor,
        reason=reason[:200],
    )
    templates = _SYSTEM_TEXT.get(event)
    if templates:
        name = agent_display_name(actor) if actor is not None else None
        named, anonymous = templates
        notice = Message.objects.create(
            store_id=conversation.store_id,
            conversation=conversation,
            role=Role.SYSTEM,
            text=named.format(agent=name) if name else anonymous,
        )
        send_message_event_on_commit(conversation_id=conversation.id, payload=notice.as_payload())
    send_state_event_on_commit(
        conversation_id=conversation.id,
        store_id=conversation.store_id,
        state={**conversation_state_payload(conversation), "event": event},
    )


def check_agent_access(*, agent: Any, store_id: int, watch_only: bool = False) -> None:
    """Agents work conversations only in the stores where their role allows it (superusers
    everywhere); ``watch_only``: following one live needs only the view permission, as a
    merchant reading their store's conversations has."""
    if not getattr(agent, "is_staff", False):
        raise ChatError("Only staff can work conversations.", code="forbidden")
    scope = InStore(store_id)
    if agent.has_perm("chat.change_conversation", scope):
        return
    can_view = agent.has_perm("chat.view_conversation", scope)
    if watch_only and can_view:
        return
    if can_view:
        raise ChatError("Your role in this store can't work its conversations.", code="forbidden")
    raise ChatError("This conversation belongs to another store.", code="forbidden")


def _locked_for_agent(conversation_id: int, agent: Any) -> Conversation:
    conversation = Conversation.objects.select_for_update().get(id=conversation_id)
    check_agent_access(agent=agent, store_id=conversation.store_id)
    return conversation


def _check_holder(conversation: Conversation, agent: Any) -> None:
    if conversation.state != ConversationState.AGENT:
        return
    if conversation.agent_id != agent.id:
        holder = agent_staff_name(conversation.agent) if conversation.agent else "another agent"
        raise ClaimConflict(f"{holder} has this conversation.")


@transaction.atomic
def conversation_escalate(*, conversation_id: int, reason: str) -> Conversation:
    conversation = Conversation.objects.select_for_update().get(id=conversation_id)
    if conversation.state == ConversationState.BOT:
        _transition(conversation, states.ESCALATE, reason=reason)
    return conversation


@transaction.atomic
def conversation_claim(*, conversation_id: int, agent: Any) -> Conversation:
    """Take a conversation (from the queue or straight from the bot); one agent at a time.

    The row lock makes two agents claiming at once serialise: the second sees the first's
    claim and gets ``ClaimConflict``. Claiming one's own conversation again changes nothing.
    """
    conversation = _locked_for_agent(conversation_id, agent)
    if conversation.state == ConversationState.AGENT:
        _check_holder(conversation, agent)
        return conversation
    _transition(conversation, states.CLAIM, actor=agent)
    return conversation


def conversation_hand_back(*, conversation_id: int, agent: Any) -> Conversation:
    return _holder_move(conversation_id, agent, states.HAND_BACK)


def conversation_resolve(*, conversation_id: int, agent: Any) -> Conversation:
    return _holder_move(conversation_id, agent, states.RESOLVE)


@transaction.atomic
def _holder_move(conversation_id: int, agent: Any, move: str) -> Conversation:
    """A move only the agent holding the conversation may make."""
    conversation = _locked_for_agent(conversation_id, agent)
    _check_holder(conversation, agent)
    _transition(conversation, move, actor=agent)
    return conversation


@transaction.atomic
def agent_message_post(*, conversation_id: int, agent: Any, text: object) -> Message:
    """An agent's reply, shown live to the shopper; only the agent holding it may write."""
    cleaned = message_text_clean(text)
    conversation = _locked_for_agent(conversation_id, agent)
    if conversation.state != ConversationState.AGENT:
        raise ConversationStateError("Claim the conversation before replying.", code="not_claimed")
    _check_holder(conversation, agent)
    message = Message.objects.create(
        store_id=conversation.store_id,
        conversation=conversation,
        role=Role.AGENT,
        text=cleaned,
        author=agent,
    )
    conversation.last_activity_at = timezone.now()
    conversation.save(update_fields=["last_activity_at"])
    send_message_event_on_commit(conversation_id=conversation.id, payload=message.as_payload())
    return message


def conversation_presence_set(*, conversation_id: int, online: bool) -> None:
    """The shopper's page connected or left; agents see it in the console."""
    with transaction.atomic():
        Conversation.objects.filter(id=conversation_id).update(shopper_online=online)
        send_presence_event_on_commit(conversation_id=conversation_id, online=online)


MAX_RATING_COMMENT_CHARS = 1000


@transaction.atomic
def message_rate(
    *, conversation_id: int, message_id: object, value: object, comment: object = ""
) -> MessageRating:
    """A shopper's thumbs up/down on a bot answer in their own conversation (re-rating updates)."""
    if value not in RatingValue.values:
        raise ChatError("A rating is 'up' or 'down'.", code="bad_rating")
    if comment is None:
        comment = ""
    if not isinstance(comment, str):
        raise ChatError("The comment must be text.", code="bad_rating")
    if len(comment) > MAX_RATING_COMMENT_CHARS:
        raise ChatError(
            f"Comments can be at most {MAX_RATING_COMMENT_CHARS} characters.", code="bad_rating"
        )
    if not isinstance(message_id, int) or isinstance(message_id, bool):
        raise ChatError("message_id must be a number.", code="bad_rating")
    message = Message.objects.filter(
        id=message_id, conversation_id=conversation_id, role=Role.BOT
    ).first()
    if message is None:
        raise ChatError("There is no such answer in this conversation.", code="unknown_message")
    from nlp.pii import redact

    # Shoppers type anything into a comment, card numbers and phone numbers included: it is
    # stored redacted, like their messages.
    stored = redact(text_storable(comment)).text.strip()
    rating, _ = MessageRating.objects.update_or_create(
        message=message, defaults={"value": value, "comment": stored}
    )
    return rating


PURGE_BATCH = 500


def conversations_purge_expired(*, now: datetime | None = None, batch: int = PURGE_BATCH) -> int:
    """Delete the conversations (messages, ratings and events with them) of every store whose
    last activity is older than the store's ``retention_days`` (0: kept); the number deleted.

    In batches of ``batch``, each its own short transaction, so a purge of a large backlog
    never holds locks the chat is waiting for. Training examples made from their messages stay
    (their link is cleared; their text was stored redacted).
    """
    from webapp.stores.models import Store

    now = now or timezone.now()
    deleted = 0
    for store_id, days in Store.objects.filter(retention_days__gt=0).values_list(
        "id", "retention_days"
    ):
        expired = Conversation.objects.filter(
            store_id=store_id, last_activity_at__lt=now - timedelta(days=days)
        )
        while ids := list(expired.order_by("id").values_list("id", flat=True)[:batch]):
            with transaction.atomic():
                Conversation.objects.filter(id__in=ids).delete()
            deleted += len(ids)
    if deleted:
        logger.info("retention: deleted %d expired conversation(s)", deleted)
    return deleted
