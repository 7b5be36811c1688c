"""The bot's decision rules, without a model: search results in, reply out."""

from webapp.chat.bot import (
    NO_KNOWLEDGE,
    NOT_FOUND,
    NOT_SURE,
    PRODUCT_INTRO,
    Thresholds,
    decide_reply,
)
from webapp.kb.selectors import Source

THRESHOLDS = Thresholds(faq=0.55, product=0.45, product_margin=0.08)


def faq(id_, score, answer="An answer.", intent=""):
    return Source(
        "faq", id_, f"Question {id_}?", f"/s/x/faq/#faq-{id_}", score, answer=answer, intent=intent
    )


def product(id_, score):
    return Source("product", id_, f"Product {id_}", f"/s/x/p/P{id_}/", score, price="9.95 EUR")


def test_confident_faq_answer_cites_only_its_entry():
    reply = decide_reply(
        [faq(1, 0.8, "Two days.", intent="delivery_time"), faq(2, 0.6)], thresholds=THRESHOLDS
    )
    assert reply.text == "Two days."
    assert [s.id for s in reply.sources] == [1]
    assert reply.intent == "delivery_time"
    assert reply.confidence == 0.8


def test_products_within_margin_are_listed_as_cards():
    reply = decide_reply(
        [product(1, 0.7), product(2, 0.65), faq(9, 0.6), product(3, 0.5)], thresholds=THRESHOLDS
    )
    assert reply.text.splitlines() == [
        PRODUCT_INTRO,
        "• Product 1 — 9.95 EUR",
        "• Product 2 — 9.95 EUR",
    ]
    assert [s.id for s in reply.sources] == [1, 2]
    assert reply.intent == "product_question"


def test_low_confidence_hedges_and_offers_a_human():
    reply = decide_reply(
        [faq(1, 0.5, intent="x"), product(2, 0.4), faq(3, 0.3), faq(4, 0.2)], thresholds=THRESHOLDS
    )
    assert reply.text == NOT_SURE
    assert "human" in reply.text
    assert [s.id for s in reply.sources] == [1, 2, 3]
    assert reply.intent is None


def test_no_results_says_so():
    reply = decide_reply([], thresholds=THRESHOLDS)
    assert reply.text == NO_KNOWLEDGE
    assert reply.sources == []
    assert reply.confidence is None


def test_noise_is_not_shown_as_suggestions():
    reply = decide_reply([product(1, 0.2), faq(2, 0.15)], thresholds=THRESHOLDS)
    assert reply.text == NOT_FOUND
    assert "human" in reply.text
    assert reply.sources == []
    assert reply.confidence == 0.2
