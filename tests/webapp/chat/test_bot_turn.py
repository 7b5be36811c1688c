"""Whole bot turns with the real parts: a trained intent model, FAISS search, orders, templates.

One tiny intent model is trained for the module (a few seconds) and registered as each test's
live version.
"""

from __future__ import annotations

import shutil
from decimal import Decimal

import pytest

from nlp.intents import IntentTrainingConfig, train_intent_classifier
from tests.factories import make_faq, make_product, make_small_kb, make_store
from webapp.chat.bot import (
    ASK_ORDER_NUMBER,
    HANDOVER_ASKED,
    HANDOVER_STUCK,
    NOT_FOUND,
    NOT_SURE,
    PRODUCT_INTRO,
)
from webapp.chat.models import Conversation, ConversationState, Message, Role
from webapp.chat.services import bot_reply, conversation_open, shopper_message_post
from webapp.intents.models import IntentAnswer
from webapp.intents.selectors import intent_classifier_live
from webapp.kb.services import search_index_build
from webapp.mlops.models import ModelKind
from webapp.mlops.services import model_version_promote, model_version_register
from webapp.orders.models import Order

pytestmark = pytest.mark.django_db(transaction=True)

INTENTS = {
    "order_status": [
        "where is my order",
        "has my package shipped",
        "track my parcel",
        "when will my order arrive",
        "status of my order please",
        "my delivery hasn't come",
        "is my order on its way",
        "where's my stuff",
    ],
    "greeting": [
        "hello",
        "hi there",
        "good morning",
        "hey",
        "hi!",
        "hello, anyone there?",
        "good evening",
        "hey there",
    ],
    "shipping_cost": [
        "how much is shipping",
        "what does delivery cost",
        "shipping fee?",
        "is shipping free",
        "delivery charges",
        "how much do you charge for postage",
        "cost of shipping to germany",
        "do I pay for shipping",
    ],
    "product_recommendation": [
        "can you recommend a kettle",
        "i need a tent for two",
        "suggest a gift under 30 euros",
        "which kettle should i buy",
        "looking for a cheap tent",
        "what's a good kettle",
        "recommend something for camping",
        "best kettle under 50",
    ],
    "talk_to_human": [
        "talk to a human",
        "i want a real person",
        "connect me to an agent",
        "speak with support staff",
        "can i talk to someone",
        "get me a human please",
        "live agent",
        "transfer me to a person",
    ],
}


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    texts = [t for examples in INTENTS.values() for t in examples]
    labels = [label for label, examples in INTENTS.items() for _ in examples]
    classifier = train_intent_classifier(
        texts, labels, IntentTrainingConfig(max_epochs=4, val_fraction=0.25)
    )
    directory = tmp_path_factory.mktemp("intent") / "model"
    classifier.save(directory)
    return directory


@pytest.fixture
def store(model_dir, encoder):
    store = make_store(slug="acme", name="Acme")
    make_small_kb(store)
    make_product(
        store,
        "KET-2",
        "Gooseneck kettle 0.9 L",
        category="Kitchen",
        price=Decimal("89.00"),
        description="Variable temperature kettle for pour-over coffee.",
    )
    make_product(
        store,
        "KET-3",
        "Red retro kettle 1.5 L",
        category="Kitchen",
        price=Decimal("39.00"),
        description="A bright red stovetop kettle with a whistle.",
        attributes={"colour": "red"},
    )
    shipping = make_faq(
        store, "How much does shipping cost?", "€4.95, free over €50.", category="Shipping"
    )
    IntentAnswer.objects.create(
        store=store, intent="shipping_cost", template="{store} ships for €4.95.", faq=shipping
    )
    IntentAnswer.objects.create(store=store, intent="greeting", template="Hi! How can I help?")
    Order.objects.create(
        store=store,
        number="SD-10042",
        email="Anna@Example.com",
        status="shipped",
        items=[{"sku": "KET-1", "name": "Kettle", "quantity": 2, "price": "34.95"}],
        carrier="DHL",
        tracking_number="JD0001",
        tracking_url="https://tracking.example/JD0001",
        placed_at="2026-11-01T10:00:00Z",
        shipped_at="2026-11-03T10:00:00Z",
    )
    search_index_build(store_id=store.id)
    _make_live(store, model_dir)
    return store


def _make_live(store, directory):
    """Register a saved intent model as the store's version and make it live."""
    version = model_version_register(
        store=store,
        kind=ModelKind.INTENT,
        save=lambda target: shutil.copytree(directory, target),
        metrics={},
        training_examples=40,
        heldout_examples=0,
        training_seconds=1,
    )
    model_version_promote(version_id=version.id)


def _say(conversation_id, text):
    posted = shopper_message_post(conversation_id=conversation_id, text=text)
    if not posted.bot_answers:
        return None
    return bot_reply(
        conversation_id=conversation_id, message_id=posted.message.id, raw_text=posted.raw_text
    )


@pytest.fixture
def conversation_id(store):
    return conversation_open(store=store, token=None).conversation_id


def test_order_status_needs_number_and_email_and_stores_no_email(conversation_id):
    assert _say(conversation_id, "where is my order?").text == ASK_ORDER_NUMBER
    assert "email" in _say(conversation_id, "SD-10042").text
    reply = _say(conversation_id, "it's anna@example.com")
    assert "SD-10042" in reply.text
    assert "DHL" in reply.text
    assert reply.sources == [
        {
            "kind": "order",
            "id": 0,
            "title": "DHL tracking JD0001",
            "url": "https://tracking.example/JD0001",
        }
    ]
    stored = list(Message.objects.filter(role=Role.SHOPPER).values_list("text", flat=True))
    assert stored[-1] == "it's [email]"
    assert "anna" not in str(Conversation.objects.get(id=conversation_id).slots).lower()


def test_wrong_email_reveals_nothing(conversation_id):
    _say(conversation_id, "track my parcel")
    reply = _say(conversation_id, "SD-10042 mallory@example.com")
    assert "couldn't find an order" in reply.text
    assert "DHL" not in reply.text


def test_price_and_category_are_honoured(conversation_id):
    reply = _say(conversation_id, "can you recommend a kettle under 40 euros")
    assert reply.text.startswith(PRODUCT_INTRO)
    titles = [source["title"] for source in reply.sources]
    assert titles
    assert "Gooseneck kettle 0.9 L" not in titles  # 89 euros
    assert "Two-person dome tent" not in titles
    assert set(titles) <= {"Glass electric kettle 1.7 L", "Red retro kettle 1.5 L"}


def test_colour_attribute_is_honoured(conversation_id):
    reply = _say(conversation_id, "recommend a red kettle")
    assert [source["title"] for source in reply.sources] == ["Red retro kettle 1.5 L"]


def test_template_answers_cite_their_faq_entry(conversation_id):
    reply = _say(conversation_id, "how much is shipping?")
    assert reply.text == "Acme ships for €4.95."
    assert reply.intent == "shipping_cost"
    assert reply.sources[0]["title"] == "How much does shipping cost?"
    shopper = Message.objects.filter(role=Role.SHOPPER).last()
    assert shopper.intent == "shipping_cost"
    assert shopper.confidence > 0.5


def test_asking_for_a_human_puts_the_conversation_in_the_queue(conversation_id):
    reply = _say(conversation_id, "can i talk to a real person")
    assert reply.text == HANDOVER_ASKED
    conversation = Conversation.objects.get(id=conversation_id)
    assert conversation.state == ConversationState.WAITING
    assert conversation.escalation_reason == "the shopper asked for a human"
    # While waiting the bot says nothing more.
    assert _say(conversation_id, "hello?") is None


def test_two_unsure_turns_in_a_row_escalate(store, conversation_id):
    # A five-intent model places even gibberish somewhere; a threshold nothing reaches makes it
    # decline every message, as a store's model does for what it was never taught.
    intent_classifier_live(store_id=store.id).threshold = 1.01
    first = _say(conversation_id, "zxqv plomb frabjous")
    assert first.text in (NOT_FOUND, NOT_SURE)
    assert Conversation.objects.get(id=conversation_id).low_confidence_turns == 1
    assert Conversation.objects.get(id=conversation_id).state == ConversationState.BOT
    second = _say(conversation_id, "blorptastic wubble quorn")
    assert second.text == HANDOVER_STUCK
    assert Conversation.objects.get(id=conversation_id).state == ConversationState.WAITING


def _statements(captured):
    """The SQL a turn sent, without transaction control (SQLite logs BEGIN and COMMIT,
    PostgreSQL doesn't: the counts below hold on both)."""
    control = ("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE SAVEPOINT")
    return [q["sql"] for q in captured if not q["sql"].upper().startswith(control)]


@pytest.mark.parametrize(
    ("text", "intent", "expected"),
    [
        # message; live model; template; then, under the row lock: conversation, shopper
        # message's intent, reply, conversation's slots.
        ("how much is shipping?", "shipping_cost", 7),
        # ... and the product path: categories, live index, filtered candidates, resolving.
        ("recommend a red kettle", "product_recommendation", 10),
    ],
)
def test_a_bot_turn_costs_a_fixed_number_of_queries(conversation_id, text, intent, expected):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    _say(conversation_id, "hello")  # the model and the index are loaded by the first turn
    posted = shopper_message_post(conversation_id=conversation_id, text=text)
    with CaptureQueriesContext(connection) as turn:
        reply = bot_reply(
            conversation_id=conversation_id, message_id=posted.message.id, raw_text=text
        )
    assert reply.intent == intent
    assert len(_statements(turn.captured_queries)) == expected, _statements(turn.captured_queries)
    with CaptureQueriesContext(connection) as post:
        shopper_message_post(conversation_id=conversation_id, text="thanks")
    # conversation (locked), the message, the conversation's activity time
    assert len(_statements(post.captured_queries)) == 3


@pytest.fixture(scope="module")
def floor_dir(tmp_path_factory):
    texts = [t for examples in INTENTS.values() for t in examples]
    labels = [label for label, examples in INTENTS.items() for _ in examples]
    classifier = train_intent_classifier(
        texts, labels, IntentTrainingConfig(fine_tune=False, val_fraction=0.25)
    )
    directory = tmp_path_factory.mktemp("intent") / "floor"
    classifier.save(directory)
    return directory


@pytest.mark.parametrize("shared", [True, False])
def test_a_floor_model_reads_the_turns_retrieval_embedding(
    store, floor_dir, conversation_id, monkeypatch, settings, shared
):
    from nlp.intents import IntentClassifier
    from webapp.chat import inference

    settings.CHAT_SHARED_ENCODER = shared
    _make_live(store, floor_dir)
    assert intent_classifier_live(store_id=store.id).shares_base_encoder
    encoded, own_passes = [], []
    real_vector, real_predict = inference.query_vector, IntentClassifier.predict
    monkeypatch.setattr(
        inference, "query_vector", lambda text: encoded.append(text) or real_vector(text)
    )
    monkeypatch.setattr(
        IntentClassifier,
        "predict",
        lambda self, texts, batch_size=64: own_passes.append(texts) or real_predict(self, texts),
    )

    reply = _say(conversation_id, "how much does shipping cost?")

    assert reply.intent == "shipping_cost"
    shopper = Message.objects.filter(conversation_id=conversation_id, role=Role.SHOPPER).get()
    assert shopper.intent == "shipping_cost"
    if shared:  # one encoder pass for the intent and the search
        assert encoded == ["how much does shipping cost?"]
        assert own_passes == []
    else:
        assert len(own_passes) == 1
