"""The bot's decision per action, without a model or a database.

``FakeKnowledge`` stands in behind the ``BotKnowledge`` interface; the real one
(``StoreKnowledge``) is exercised end to end in test_bot_turn.py.
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from nlp.entities import ProductQuery, find_order_numbers, parse_product_query
from nlp.intents import IntentPrediction
from webapp.chat.bot import (
    ASK_ORDER_NUMBER,
    HANDOVER_ASKED,
    HANDOVER_STUCK,
    HANDOVER_UPSET,
    NO_KNOWLEDGE,
    NO_PRODUCTS,
    NOT_FOUND,
    NOT_SURE,
    ORDER_GIVE_UP,
    ORDER_NOT_MATCHED,
    PRODUCT_INTRO,
    OrderFacts,
    TemplateAnswer,
    Thresholds,
    Turn,
    decide,
    email_fingerprint,
)
from webapp.kb.selectors import Source

THRESHOLDS = Thresholds(faq=0.55, product=0.45, product_margin=0.08)
ORDER = OrderFacts(
    number="SD-10042",
    status="shipped",
    status_label="Shipped",
    item_count=2,
    carrier="DHL",
    tracking_number="JD0001",
    tracking_url="https://tracking.example/dhl/JD0001",
    placed_on="1 November 2026",
    shipped_on="3 November 2026",
    estimated_delivery="6 November 2026",
)


def faq(id_, score, answer="An answer.", intent=""):
    return Source(
        "faq", id_, f"Question {id_}?", f"/s/x/faq/#faq-{id_}", score, answer=answer, intent=intent
    )


def product(id_, score, stock=5):
    return Source(
        "product", id_, f"Product {id_}", f"/s/x/p/P{id_}/", score, price="9.95 EUR", stock=stock
    )


class FakeKnowledge:
    def __init__(self, *, faq_hits=(), product_hits=(), templates=None, orders=None):
        self.faq_hits = list(faq_hits)
        self.product_hits = list(product_hits)
        self.templates = templates or {}
        self.orders = orders or {}
        self.product_queries: list[ProductQuery] = []

    def faq_search(self, query):
        return self.faq_hits

    def product_query(self, text):
        return parse_product_query(text, ["Kitchen", "Footwear"])

    def product_search(self, query):
        self.product_queries.append(query)
        return self.product_hits

    def template_answer(self, intent):
        return self.templates.get(intent)

    def order_numbers(self, text):
        return find_order_numbers(text, prefix="SD")

    def order_lookup(self, *, number, email_sha256):
        found = self.orders.get(number)
        if found and email_fingerprint(found[0]) == email_sha256:
            return found[1]
        return None


def predicted(intent, confidence=0.9):
    label = intent or "greeting"
    return IntentPrediction(intent, label, confidence, ((label, confidence),))


def turn(text, intent=None, confidence=0.9, polarity=0.0, **kw):
    prediction = predicted(intent, confidence) if intent is not None or "declined" in kw else None
    kw.pop("declined", None)
    return Turn(text=text, prediction=prediction, polarity=polarity, **kw)


# --- hand-over ------------------------------------------------------------------------------


def test_asking_for_a_human_escalates():
    reply = decide(
        turn("can I talk to someone", "talk_to_human"), FakeKnowledge(), thresholds=THRESHOLDS
    )
    assert reply.escalate == "the shopper asked for a human"
    assert reply.text == HANDOVER_ASKED
    assert reply.intent == "talk_to_human"


@pytest.mark.parametrize("text", ["I want a real person now", "agent", " Agent! "])
def test_asking_for_a_human_escalates_even_without_a_model(text):
    reply = decide(turn(text), FakeKnowledge(), thresholds=THRESHOLDS)
    assert reply.escalate == "the shopper asked for a human"


def test_the_word_agent_alone_escalates_whatever_the_model_says():
    reply = decide(turn("agent", "greeting"), FakeKnowledge(), thresholds=THRESHOLDS)
    assert reply.escalate == "the shopper asked for a human"


def test_a_confident_other_intent_is_not_mistaken_for_a_human_request():
    knowledge = FakeKnowledge(templates={"return_item": TemplateAnswer("Returns are free.")})
    reply = decide(
        turn("how does a human return a parcel", "return_item"), knowledge, thresholds=THRESHOLDS
    )
    assert not reply.escalate
    assert reply.text == "Returns are free."


def test_a_very_negative_message_escalates():
    reply = decide(
        turn("this is the worst shop ever, absolutely furious", "complaint", polarity=-0.9),
        FakeKnowledge(),
        thresholds=THRESHOLDS,
    )
    assert reply.escalate == "very negative message"
    assert reply.text == HANDOVER_UPSET


def test_a_mildly_negative_message_does_not_escalate():
    knowledge = FakeKnowledge(templates={"complaint": TemplateAnswer("Sorry to hear that.")})
    reply = decide(turn("a bit slow", "complaint", polarity=-0.3), knowledge, thresholds=THRESHOLDS)
    assert not reply.escalate


def test_second_unsure_turn_in_a_row_escalates():
    knowledge = FakeKnowledge(faq_hits=[faq(1, 0.2)])
    first = decide(turn("blorp", declined=True), knowledge, thresholds=THRESHOLDS)
    assert first.unsure
    assert not first.escalate
    second = decide(
        turn("blorp again", declined=True, low_confidence_turns=1), knowledge, thresholds=THRESHOLDS
    )
    assert second.escalate == "the bot was unsure twice in a row"
    assert second.text == HANDOVER_STUCK


# --- templates and FAQ ------------------------------------------------------------------------


def test_template_answer_cites_its_faq_entry():
    source = faq(7, 1.0, "Shipping is 4.95.")
    knowledge = FakeKnowledge(
        templates={"shipping_cost": TemplateAnswer("Shipping is €4.95, free over €50.", source)}
    )
    reply = decide(turn("how much is shipping", "shipping_cost"), knowledge, thresholds=THRESHOLDS)
    assert reply.text == "Shipping is €4.95, free over €50."
    assert reply.sources == [source]
    assert reply.intent == "shipping_cost"
    assert reply.confidence == 0.9
    assert not reply.unsure


def test_intent_without_template_falls_back_to_faq_search():
    knowledge = FakeKnowledge(faq_hits=[faq(1, 0.8, "Two days.", "delivery_time"), faq(2, 0.6)])
    reply = decide(turn("when will it come", "delivery_time"), knowledge, thresholds=THRESHOLDS)
    assert reply.text == "Two days."
    assert [s.id for s in reply.sources] == [1]
    assert reply.action == "faq"


def test_declined_intent_uses_retrieval_confidence():
    knowledge = FakeKnowledge(faq_hits=[faq(1, 0.8, "Two days.", "delivery_time")])
    reply = decide(turn("parcel eta", declined=True), knowledge, thresholds=THRESHOLDS)
    assert reply.intent == "delivery_time"
    assert reply.confidence == 0.8
    assert not reply.unsure


def test_low_retrieval_score_hedges_with_suggestions():
    knowledge = FakeKnowledge(faq_hits=[faq(1, 0.5), product(2, 0.4), faq(3, 0.31), faq(4, 0.2)])
    reply = decide(turn("hmm", declined=True), knowledge, thresholds=THRESHOLDS)
    assert reply.text == NOT_SURE
    assert [s.id for s in reply.sources] == [1, 2, 3]
    assert reply.unsure


def test_noise_is_not_shown_and_no_index_says_so():
    noise = decide(
        turn("x", declined=True), FakeKnowledge(faq_hits=[faq(2, 0.1)]), thresholds=THRESHOLDS
    )
    assert noise.text == NOT_FOUND
    assert noise.sources == []
    empty = decide(turn("x", declined=True), FakeKnowledge(), thresholds=THRESHOLDS)
    assert empty.text == NO_KNOWLEDGE


# --- products -------------------------------------------------------------------------------


def test_product_recommendation_passes_price_and_category_and_lists_cards():
    knowledge = FakeKnowledge(product_hits=[product(1, 0.3), product(2, 0.28, stock=0)])
    reply = decide(
        turn("a kettle under 40 euros", "product_recommendation"), knowledge, thresholds=THRESHOLDS
    )
    query = knowledge.product_queries[0]
    assert query.max_price == Decimal("40")
    assert query.category == "Kitchen"
    # The filter chose them, so a modest similarity is still an answer.
    assert reply.text.splitlines() == [
        PRODUCT_INTRO,
        "• Product 1 — 9.95 EUR (in stock)",
        "• Product 2 — 9.95 EUR (out of stock)",
    ]
    assert [s.id for s in reply.sources] == [1, 2]


def test_no_product_meets_the_wishes_says_so():
    reply = decide(
        turn("shoes under 5 euros", "product_recommendation"),
        FakeKnowledge(),
        thresholds=THRESHOLDS,
    )
    assert reply.text == NO_PRODUCTS


# --- order status ----------------------------------------------------------------------------


def test_order_status_asks_for_number_then_email_then_answers():
    knowledge = FakeKnowledge(orders={"SD-10042": ("anna@example.com", ORDER)})
    first = decide(turn("where is my parcel", "order_status"), knowledge, thresholds=THRESHOLDS)
    assert first.text == ASK_ORDER_NUMBER
    second = decide(
        turn("it's sd10042", declined=True, slots=first.slots), knowledge, thresholds=THRESHOLDS
    )
    assert "email" in second.text
    assert second.slots["order_number"] == "SD-10042"
    assert "anna" not in str(second.slots)
    third = decide(
        turn("Anna@Example.com", declined=True, slots=second.slots),
        knowledge,
        thresholds=THRESHOLDS,
    )
    assert "SD-10042" in third.text
    assert "DHL" in third.text
    assert "JD0001" in third.text
    assert third.sources[0].url == ORDER.tracking_url
    assert third.slots == {}


def test_order_is_never_shown_without_the_matching_email():
    knowledge = FakeKnowledge(orders={"SD-10042": ("anna@example.com", ORDER)})
    slots = {"flow": "order_status", "order_number": "SD-10042"}
    reply = decide(
        turn("mallory@example.com", declined=True, slots=slots), knowledge, thresholds=THRESHOLDS
    )
    assert reply.text == ORDER_NOT_MATCHED
    assert "DHL" not in reply.text
    assert "shipped" not in reply.text
    # Both are asked again, so the reply doesn't reveal which one was wrong.
    assert "order_number" not in reply.slots
    assert "email_sha256" not in reply.slots


def test_order_lookup_gives_up_to_a_human_after_three_failures():
    knowledge = FakeKnowledge()
    slots = {"flow": "order_status", "attempts": 2}
    reply = decide(
        turn("SD-99999 bob@example.com", declined=True, slots=slots),
        knowledge,
        thresholds=THRESHOLDS,
    )
    assert reply.text == ORDER_GIVE_UP
    assert reply.escalate


def test_a_new_confident_intent_leaves_the_order_lookup():
    knowledge = FakeKnowledge(templates={"shipping_cost": TemplateAnswer("€4.95.")})
    slots = {"flow": "order_status", "order_number": "SD-10042"}
    reply = decide(
        turn("how much is shipping", "shipping_cost", slots=slots), knowledge, thresholds=THRESHOLDS
    )
    assert reply.text == "€4.95."
    assert reply.slots == {}


@pytest.mark.parametrize("text", ["my order SD-10042", "anna@example.com"])
def test_order_details_continue_the_lookup_whatever_the_model_says(text):
    knowledge = FakeKnowledge()
    slots = {"flow": "order_status"}
    reply = decide(turn(text, "greeting", slots=slots), knowledge, thresholds=THRESHOLDS)
    assert reply.intent == "order_status"
