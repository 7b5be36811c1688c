from __future__ import annotations

from django.conf import settings
from django.db import models

from webapp.stores.models import Store


class ConversationState(models.TextChoices):
    BOT = "bot", "With the bot"
    WAITING = "waiting", "Waiting for an agent"
    AGENT = "agent", "With an agent"
    RESOLVED = "resolved", "Resolved"


class Conversation(models.Model):
    """A shopper's chat with a store, resumed with a bearer token kept by the browser.

    Only the SHA-256 of the token is stored, so a database dump can't be used to read
    shoppers' conversations.
    """

    store = models.ForeignKey(Store, on_delete=models.CASCADE, related_name="conversations")
    token_hash = models.CharField(max_length=64, unique=True)
    state = models.CharField(
        max_length=20, choices=ConversationState.choices, default=ConversationState.BOT
    )
    agent = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="claimed_conversations",
        help_text="The agent holding the conversation (state 'With an agent')",
    )
    escalated_at = models.DateTimeField(null=True, blank=True)
    escalation_reason = models.CharField(max_length=200, blank=True)
    last_intent = models.CharField(max_length=64, blank=True)
    # Consecutive turns the bot could not answer with confidence; two in a row escalate.
    low_confidence_turns = models.PositiveSmallIntegerField(default=0)
    # What the bot is in the middle of (e.g. asking for an order number). Never raw PII: an
    # email is kept only as its SHA-256 to match against the order.
    slots = models.JSONField(default=dict, blank=True)
    shopper_online = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    last_activity_at = models.DateTimeField(db_index=True)

    class Meta:
        ordering = ["-last_activity_at"]
        indexes = [
            # The agents' queue: a store's waiting conversations, oldest escalation first.
            models.Index(fields=["state", "escalated_at"], name="conversation_queue"),
        ]

    def __str__(self) -> str:
        return f"Conversation {self.id} ({self.store.slug})"


class Role(models.TextChoices):
    SHOPPER = "shopper", "Shopper"
    BOT = "bot", "Bot"
    AGENT = "agent", "Agent"
    SYSTEM = "system", "System"


class Message(models.Model):
    store = models.ForeignKey(Store, on_delete=models.CASCADE, related_name="messages")
    conversation = models.ForeignKey(
        Conversation, on_delete=models.CASCADE, related_name="messages"
    )
    role = models.CharField(max_length=20, choices=Role.choices)
    text = models.TextField()
    sources = models.JSONField(default=list, blank=True)
    intent = models.CharField(max_length=64, blank=True)
    confidence = models.FloatField(null=True, blank=True)
    # Kinds of PII removed from ``text`` before it was stored (email, phone, card, iban).
    redactions = models.JSONField(default=list, blank=True)
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="The agent who wrote it",
    )
    corrected_intent = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["conversation", "id"], name="message_conversation_id")]

    def __str__(self) -> str:
        return f"{self.role}: {self.text[:60]}"

    def as_payload(self) -> dict[str, object]:
        """The message as the websocket protocol shows it."""
        payload: dict[str, object] = {
            "role": self.role,
            "text": self.text,
            "sources": self.sources,
            "intent": self.intent or None,
            "confidence": None if self.confidence is None else round(self.confidence, 4),
            "message_id": self.id,
            "created_at": self.created_at.isoformat(),
        }
        if self.role == Role.AGENT and self.author_id is not None:
            name = agent_display_name(self.author)
            if name:
                payload["author"] = name
        return payload


def agent_display_name(user: object) -> str | None:
    """What shoppers see of an agent: the first name, or None without one (they then read
    "a member of our team"). Staff login names are never shown to shoppers."""
    return str(getattr(user, "first_name", "") or "").strip() or None


def agent_staff_name(user: object) -> str:
    """What other staff see of an agent: the first name, else the login name."""
    return agent_display_name(user) or str(getattr(user, "username", "") or "another agent")


class RatingValue(models.TextChoices):
    UP = "up", "Helpful"
    DOWN = "down", "Not helpful"


class MessageRating(models.Model):
    """A shopper's thumbs up or down on one bot answer (the latest rating counts)."""

    message = models.OneToOneField(Message, on_delete=models.CASCADE, related_name="rating")
    value = models.CharField(max_length=4, choices=RatingValue.choices)
    comment = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.value} on message {self.message_id}"


class ConversationEvent(models.Model):
    """The audit trail of the hand-off state machine: who moved a conversation, when, why."""

    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="events")
    event = models.CharField(max_length=20)
    from_state = models.CharField(max_length=20, choices=ConversationState.choices)
    to_state = models.CharField(max_length=20, choices=ConversationState.choices)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    reason = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.event}: {self.from_state} -> {self.to_state}"


class CannedReply(models.Model):
    """A store's ready-made text an agent can drop into the reply box."""

    store = models.ForeignKey(Store, on_delete=models.CASCADE, related_name="canned_replies")
    title = models.CharField(max_length=100)
    text = models.TextField()

    class Meta:
        ordering = ["title"]
        verbose_name_plural = "canned replies"
        constraints = [
            models.UniqueConstraint(fields=["store", "title"], name="canned_reply_unique_title")
        ]

    def __str__(self) -> str:
        return self.title
