"""The bot's decision for one shopper message.

Given what was understood about the message (intent, sentiment, the conversation's open
question) the bot picks one action: hand over to a human, look up an order, suggest products,
answer from the merchant's template for the intent, or search the FAQ. Data comes in through
``BotKnowledge`` so every rule is tested without a model or a database; the services module
gives it the real store.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from nlp.entities import ProductQuery
from nlp.intents import IntentPrediction
from nlp.pii import find_emails
from retrieval.documents import FAQ, PRODUCT
from webapp.kb.selectors import Source

NOT_SURE = (
    "I'm not sure I've understood that correctly. Here is what I found that might help — "
    "or ask for a human and a member of our team will pick it up."
)
NOT_FOUND = (
    "I'm sorry, I couldn't find anything about that. Could you rephrase it, or ask for a human "
    "and a member of our team will pick it up?"
)
NO_KNOWLEDGE = (
    "I can't look that up right now. Please try again in a moment, or ask for a human and a "
    "member of our team will pick it up."
)
PRODUCT_INTRO = "These products look like a match:"
NO_PRODUCTS = (
    "I couldn't find a product that matches all of that. Could you loosen one of the wishes — "
    "the price, the category or a detail?"
)
HANDOVER_ASKED = (
    "Of course — I'm bringing in a member of our team. Someone will be with you shortly; you "
    "can keep writing here in the meantime."
)
HANDOVER_UPSET = (
    "I'm really sorry about this. I'm bringing in a member of our team who can sort it out — "
    "someone will be with you shortly."
)
HANDOVER_STUCK = (
    "I'm sorry, I'm not getting this right. I'm bringing in a member of our team who can help — "
    "someone will be with you shortly."
)
ASK_ORDER_NUMBER = (
    "I can check that for you. What is your order number? It starts with SD- and is in your "
    "order confirmation email."
)
ASK_ORDER_EMAIL = "Thanks! And which email address did you use for the order {number}?"
ORDER_NOT_MATCHED = (
    "I couldn't find an order with that number and email address together. Could you check "
    "both? They're in your order confirmation email."
)
ORDER_GIVE_UP = (
    "I still couldn't match that order number and email address, so I'm bringing in a member "
    "of our team who can check it with you."
)

INTENT_HUMAN = "talk_to_human"
INTENT_ORDER_STATUS = "order_status"
PRODUCT_INTENTS = frozenset({"product_question", "product_recommendation", "stock_availability"})
# A shopper asking for a person is never kept from one by a model that missed the intent.
_HUMAN_WORDS = re.compile(
    r"\b(human|real person|a person|someone real|live agent|an agent|agent please|"
    r"customer service rep|representative|speak to (someone|somebody|a person|staff))\b",
    re.IGNORECASE,
)
# The FAQ and templates tell shoppers to type "agent": a message that is just that asks for one.
_HUMAN_ONLY = re.compile(r"^\W*(agent|human|person|operator)\W*$", re.IGNORECASE)


def asks_for_human(text: str) -> bool:
    """Whether the words alone ask for a person (no model needed)."""
    return bool(_HUMAN_WORDS.search(text) or _HUMAN_ONLY.match(text))


@dataclass(frozen=True)
class Thresholds:
    """Where the bot stops trusting its own reading.

    The retrieval similarities were chosen on the demo paraphrases in bench/retrieval (see the
    README); ``very_negative`` is a VADER compound score, at which a message reads as angry.
    """

    faq: float = 0.55
    product: float = 0.45
    # Other products are listed if they are within this margin of the best one.
    product_margin: float = 0.08
    max_products: int = 3
    max_suggestions: int = 3
    # Below this, hits are noise ("what's the meaning of life" -> a doormat): don't show them.
    suggestion_floor: float = 0.3
    very_negative: float = -0.7
    low_confidence_turns_to_escalate: int = 2
    order_attempts_to_escalate: int = 3


@dataclass(frozen=True)
class OrderFacts:
    """What the bot may tell a shopper about an order that matched number and email."""

    number: str
    status: str
    status_label: str
    item_count: int
    carrier: str = ""
    tracking_number: str = ""
    tracking_url: str = ""
    placed_on: str = ""
    shipped_on: str = ""
    delivered_on: str = ""
    estimated_delivery: str = ""


@dataclass(frozen=True)
class TemplateAnswer:
    text: str
    source: Source | None = None


class BotKnowledge(Protocol):
    """The store data the bot reads; services.StoreKnowledge is the real one."""

    def faq_search(self, query: str) -> list[Source]: ...

    def product_search(self, query: ProductQuery) -> list[Source]: ...

    def template_answer(self, intent: str) -> TemplateAnswer | None: ...

    def order_lookup(self, *, number: str, email_sha256: str) -> OrderFacts | None: ...

    def order_numbers(self, text: str) -> list[str]: ...

    def product_query(self, text: str) -> ProductQuery: ...


@dataclass(frozen=True)
class Turn:
    """One shopper message as understood. ``text`` is the unredacted text, never stored."""

    text: str
    prediction: IntentPrediction | None
    polarity: float
    slots: Mapping[str, Any] = field(default_factory=dict)
    low_confidence_turns: int = 0

    @property
    def intent(self) -> str | None:
        return self.prediction.intent if self.prediction else None


@dataclass(frozen=True)
class BotReply:
    text: str
    sources: list[Source] = field(default_factory=list)
    intent: str | None = None
    confidence: float | None = None
    # Why the conversation goes to a human, when it does.
    escalate: str = ""
    slots: dict[str, Any] = field(default_factory=dict)
    # The bot could not answer with confidence (counts towards escalation).
    unsure: bool = False
    action: str = ""


def email_fingerprint(email: str) -> str:
    return hashlib.sha256(email.strip().casefold().encode()).hexdigest()


def decide(turn: Turn, knowledge: BotKnowledge, *, thresholds: Thresholds) -> BotReply:
    """Pick the action for one message and say what to reply."""
    reply = _act(turn, knowledge, thresholds)
    if reply.escalate or not reply.unsure:
        return reply
    if turn.low_confidence_turns + 1 >= thresholds.low_confidence_turns_to_escalate:
        return replace(reply, text=HANDOVER_STUCK, escalate="the bot was unsure twice in a row")
    return reply


def _act(turn: Turn, knowledge: BotKnowledge, thresholds: Thresholds) -> BotReply:
    prediction = turn.prediction
    confidence = prediction.confidence if prediction else None
    intent = turn.intent
    asks_for_human = bool(_HUMAN_WORDS.search(turn.text))
    insists = bool(_HUMAN_ONLY.match(turn.text))
    # Order details mid-lookup answer our question, whatever the model makes of them.
    if not asks_for_human and _gives_order_details(turn, knowledge):
        return _order_status(turn, knowledge, thresholds, confidence)
    if intent == INTENT_HUMAN or insists or (intent is None and asks_for_human):
        return BotReply(
            HANDOVER_ASKED,
            intent=INTENT_HUMAN,
            confidence=confidence,
            escalate="the shopper asked for a human",
            action="escalate",
        )
    if turn.polarity <= thresholds.very_negative:
        return BotReply(
            HANDOVER_UPSET,
            intent=intent,
            confidence=confidence,
            escalate="very negative message",
            action="escalate",
        )
    if _continues_order_lookup(turn, knowledge):
        return _order_status(turn, knowledge, thresholds, confidence)
    if intent in PRODUCT_INTENTS:
        return _products(turn, knowledge, thresholds, intent, confidence)
    if intent is not None:
        answer = knowledge.template_answer(intent)
        if answer is not None:
            sources = [answer.source] if answer.source else []
            return BotReply(
                answer.text, sources, intent=intent, confidence=confidence, action="template"
            )
    return _faq(turn, knowledge, thresholds, intent, confidence)


def _gives_order_details(turn: Turn, knowledge: BotKnowledge) -> bool:
    if turn.slots.get("flow") != INTENT_ORDER_STATUS:
        return False
    return bool(knowledge.order_numbers(turn.text)) or bool(find_emails(turn.text))


def _continues_order_lookup(turn: Turn, knowledge: BotKnowledge) -> bool:
    if turn.intent == INTENT_ORDER_STATUS:
        return True
    # Mid-lookup, a message the model can't place is taken as the answer to our question; a
    # confident new intent changes the subject.
    return turn.slots.get("flow") == INTENT_ORDER_STATUS and turn.intent is None


def _order_status(
    turn: Turn, knowledge: BotKnowledge, thresholds: Thresholds, confidence: float | None
) -> BotReply:
    slots = dict(turn.slots) if turn.slots.get("flow") == INTENT_ORDER_STATUS else {}
    slots["flow"] = INTENT_ORDER_STATUS
    numbers = knowledge.order_numbers(turn.text)
    emails = find_emails(turn.text)
    if numbers:
        slots["order_number"] = numbers[0]
    if emails:
        slots["email_sha256"] = email_fingerprint(emails[0])
    number = slots.get("order_number")
    if not number:
        return BotReply(
            ASK_ORDER_NUMBER,
            intent=INTENT_ORDER_STATUS,
            confidence=confidence,
            slots=slots,
            action="ask_order_number",
        )
    if not slots.get("email_sha256"):
        return BotReply(
            ASK_ORDER_EMAIL.format(number=number),
            intent=INTENT_ORDER_STATUS,
            confidence=confidence,
            slots=slots,
            action="ask_order_email",
        )
    facts = knowledge.order_lookup(number=number, email_sha256=slots["email_sha256"])
    if facts is None:
        attempts = int(slots.get("attempts", 0)) + 1
        if attempts >= thresholds.order_attempts_to_escalate:
            return BotReply(
                ORDER_GIVE_UP,
                intent=INTENT_ORDER_STATUS,
                confidence=confidence,
                escalate="the order could not be verified",
                action="escalate",
            )
        # Forget both: the shopper re-types them, and we never hint which one was wrong.
        return BotReply(
            ORDER_NOT_MATCHED,
            intent=INTENT_ORDER_STATUS,
            confidence=confidence,
            slots={"flow": INTENT_ORDER_STATUS, "attempts": attempts},
            action="order_not_matched",
        )
    sources = []
    if facts.tracking_url:
        sources.append(
            Source(
                "order",
                0,
                f"{facts.carrier} tracking {facts.tracking_number}".strip(),
                facts.tracking_url,
                1.0,
            )
        )
    return BotReply(
        order_status_text(facts),
        sources,
        intent=INTENT_ORDER_STATUS,
        confidence=confidence,
        action="order_status",
    )


def order_status_text(facts: OrderFacts) -> str:
    items = "1 item" if facts.item_count == 1 else f"{facts.item_count} items"
    head = f"Order {facts.number} ({items}, placed {facts.placed_on})"
    if facts.status == "delivered":
        return f"{head} was delivered on {facts.delivered_on}."
    if facts.status == "shipped":
        text = f"{head} is on its way: it left our warehouse on {facts.shipped_on}"
        if facts.carrier:
            text += f" with {facts.carrier}"
            if facts.tracking_number:
                text += f" (tracking number {facts.tracking_number})"
        text += "."
        if facts.estimated_delivery:
            text += f" It should arrive by {facts.estimated_delivery}."
        return text
    if facts.status == "cancelled":
        return f"{head} was cancelled. Any payment is refunded to the original payment method."
    if facts.status == "returned":
        return f"{head} was returned to us; the refund follows within 5 working days of arrival."
    text = f"{head} is {facts.status_label.lower()} and hasn't shipped yet."
    if facts.estimated_delivery:
        text += f" We expect it to arrive by {facts.estimated_delivery}."
    return text


def _products(
    turn: Turn,
    knowledge: BotKnowledge,
    thresholds: Thresholds,
    intent: str,
    confidence: float | None,
) -> BotReply:
    query = knowledge.product_query(turn.text)
    found = knowledge.product_search(query)
    filtered = query.min_price is not None or query.max_price is not None
    filtered = filtered or bool(query.category) or bool(query.attributes)
    if not found:
        if filtered:
            return BotReply(NO_PRODUCTS, intent=intent, confidence=confidence, action="products")
        return _faq(turn, knowledge, thresholds, intent, confidence)
    best = found[0]
    # With explicit wishes the filter did the choosing, so a weaker similarity is still a match.
    if not filtered and best.score < thresholds.product:
        return _faq(turn, knowledge, thresholds, intent, confidence)
    products = [p for p in found if p.score >= best.score - thresholds.product_margin]
    products = products[: thresholds.max_products]
    return BotReply(
        product_list_text(products),
        products,
        intent=intent,
        confidence=confidence,
        action="products",
    )


def product_list_text(products: list[Source]) -> str:
    lines = [PRODUCT_INTRO]
    for product in products:
        line = f"• {product.title} — {product.price}"
        if product.stock is not None:
            line += " (in stock)" if product.stock > 0 else " (out of stock)"
        lines.append(line)
    return "\n".join(lines)


def _faq(
    turn: Turn,
    knowledge: BotKnowledge,
    thresholds: Thresholds,
    intent: str | None,
    confidence: float | None,
) -> BotReply:
    sources = knowledge.faq_search(turn.text)
    if not sources:
        return BotReply(NO_KNOWLEDGE, intent=intent, confidence=confidence, unsure=True)
    best = sources[0]
    if best.kind == FAQ and best.score >= thresholds.faq:
        return BotReply(
            best.answer,
            [best],
            intent=intent or best.intent or None,
            confidence=confidence if intent else best.score,
            action="faq",
        )
    if best.kind == PRODUCT and best.score >= thresholds.product:
        products = [
            s
            for s in sources
            if s.kind == PRODUCT and s.score >= best.score - thresholds.product_margin
        ][: thresholds.max_products]
        return BotReply(
            product_list_text(products),
            products,
            intent=intent or "product_question",
            confidence=confidence if intent else best.score,
            action="products",
        )
    suggestions = [s for s in sources if s.score >= thresholds.suggestion_floor]
    return BotReply(
        NOT_SURE if suggestions else NOT_FOUND,
        suggestions[: thresholds.max_suggestions],
        intent=intent,
        confidence=confidence if intent else best.score,
        # A confident intent without its own answer still counts as understood.
        unsure=intent is None,
        action="faq_unsure",
    )
