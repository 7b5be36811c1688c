from __future__ import annotations

from django.db import models

from webapp.stores.models import Store


class ConversationState(models.TextChoices):
    BOT = "bot", "With the bot"


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
    created_at = models.DateTimeField(auto_now_add=True)
    last_activity_at = models.DateTimeField(db_index=True)

    class Meta:
        ordering = ["-last_activity_at"]

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
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["conversation", "id"], name="message_conversation_id")]

    def __str__(self) -> str:
        return f"{self.role}: {self.text[:60]}"

    def as_payload(self) -> dict[str, object]:
        """The message as the websocket protocol shows it."""
        return {
            "role": self.role,
            "text": self.text,
            "sources": self.sources,
            "intent": self.intent or None,
            "confidence": None if self.confidence is None else round(self.confidence, 4),
            "message_id": self.id,
            "created_at": self.created_at.isoformat(),
        }
