"""The hand-off state machine through its services: every transition, and the awkward ones."""

from __future__ import annotations

import pytest
from django.utils import timezone

from tests.factories import make_store
from webapp.chat import states
from webapp.chat.models import (
    Conversation,
    ConversationEvent,
    ConversationState,
    Message,
    MessageRating,
    Role,
)
from webapp.chat.selectors import conversation_state_payload, escalation_queue
from webapp.chat.services import (
    ChatError,
    ClaimConflict,
    ConversationStateError,
    agent_message_post,
    bot_reply,
    conversation_claim,
    conversation_escalate,
    conversation_hand_back,
    conversation_open,
    conversation_presence_set,
    conversation_resolve,
    message_rate,
    shopper_message_post,
)
from webapp.stores.services import store_user_upsert

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def store():
    return make_store(slug="acme", name="Acme")


@pytest.fixture
def agent(store):
    user = store_user_upsert(store=store, username="alex", password="pw", role="agent").user
    user.first_name = "Alex"
    user.save(update_fields=["first_name"])
    return user


@pytest.fixture
def other_agent(store):
    return store_user_upsert(store=store, username="sam", password="pw", role="agent").user


@pytest.fixture
def conversation(store):
    opened = conversation_open(store=store, token=None)
    return Conversation.objects.get(id=opened.conversation_id)


def _state(conversation):
    conversation.refresh_from_db()
    return conversation.state


def _system_texts(conversation):
    return list(
        Message.objects.filter(conversation=conversation, role=Role.SYSTEM).values_list(
            "text", flat=True
        )
    )


def test_table_allows_only_the_documented_moves():
    allowed = {(event, state) for (event, state) in states.TRANSITIONS}
    for event in states.EVENTS:
        for state in ConversationState.values:
            expected = (event, state) in allowed
            assert (states.next_state(event, state) is not None) == expected


def test_full_cycle_bot_waiting_agent_back_to_bot(conversation, agent):
    conversation_escalate(conversation_id=conversation.id, reason="asked for a human")
    assert _state(conversation) == ConversationState.WAITING
    assert list(escalation_queue(user=agent)) == [conversation]
    conversation_claim(conversation_id=conversation.id, agent=agent)
    conversation.refresh_from_db()
    assert conversation.state == ConversationState.AGENT
    assert conversation.agent == agent
    assert list(escalation_queue(user=agent)) == []
    agent_message_post(conversation_id=conversation.id, agent=agent, text="Hi, Alex here")
    conversation_hand_back(conversation_id=conversation.id, agent=agent)
    conversation.refresh_from_db()
    assert conversation.state == ConversationState.BOT
    assert conversation.agent is None
    events = list(ConversationEvent.objects.values_list("event", "from_state", "to_state"))
    assert events == [
        ("escalate", "bot", "waiting"),
        ("claim", "waiting", "agent"),
        ("hand_back", "agent", "bot"),
    ]
    texts = _system_texts(conversation)
    assert "queue" in texts[0]
    assert texts[1] == "Alex from our team has joined the conversation."
    assert texts[2] == "Alex has handed you back to the assistant."
    assert Message.objects.filter(role=Role.AGENT, author=agent).count() == 1


def test_two_agents_claiming_one_wins_the_other_is_told(conversation, agent, other_agent):
    conversation_escalate(conversation_id=conversation.id, reason="x")
    conversation_claim(conversation_id=conversation.id, agent=agent)
    with pytest.raises(ClaimConflict, match="Alex has this conversation"):
        conversation_claim(conversation_id=conversation.id, agent=other_agent)
    # Claiming one's own conversation again is harmless.
    conversation_claim(conversation_id=conversation.id, agent=agent)
    assert ConversationEvent.objects.filter(event="claim").count() == 1
    with pytest.raises(ClaimConflict):
        agent_message_post(conversation_id=conversation.id, agent=other_agent, text="me too")
    with pytest.raises(ClaimConflict):
        conversation_hand_back(conversation_id=conversation.id, agent=other_agent)


def test_reply_before_claim_and_bad_moves_are_refused(conversation, agent):
    with pytest.raises(ConversationStateError) as excinfo:
        agent_message_post(conversation_id=conversation.id, agent=agent, text="hello")
    assert excinfo.value.code == "not_claimed"
    with pytest.raises(ConversationStateError):
        conversation_hand_back(conversation_id=conversation.id, agent=agent)
    with pytest.raises(ConversationStateError):
        conversation_resolve(conversation_id=conversation.id, agent=agent)
    assert _state(conversation) == ConversationState.BOT


def test_agent_of_another_store_is_refused(conversation):
    stranger_store = make_store(slug="other")
    stranger = store_user_upsert(
        store=stranger_store, username="eve", password="pw", role="agent"
    ).user
    with pytest.raises(ChatError) as excinfo:
        conversation_claim(conversation_id=conversation.id, agent=stranger)
    assert excinfo.value.code == "forbidden"
    assert list(escalation_queue(user=stranger)) == []


def test_bot_is_silent_while_waiting_and_while_an_agent_holds_it(conversation, agent):
    conversation_escalate(conversation_id=conversation.id, reason="x")
    posted = shopper_message_post(conversation_id=conversation.id, text="hello?")
    assert not posted.bot_answers
    assert bot_reply(conversation_id=conversation.id, message_id=posted.message.id) is None
    conversation_claim(conversation_id=conversation.id, agent=agent)
    posted = shopper_message_post(conversation_id=conversation.id, text="are you there")
    assert not posted.bot_answers
    assert bot_reply(conversation_id=conversation.id, message_id=posted.message.id) is None
    assert not Message.objects.filter(role=Role.BOT).exists()


def test_resolved_conversation_reopens_with_the_bot_when_the_shopper_writes(conversation, agent):
    conversation_claim(conversation_id=conversation.id, agent=agent)
    conversation_resolve(conversation_id=conversation.id, agent=agent)
    assert _state(conversation) == ConversationState.RESOLVED
    posted = shopper_message_post(conversation_id=conversation.id, text="one more thing")
    assert posted.bot_answers
    assert _state(conversation) == ConversationState.BOT
    assert ConversationEvent.objects.last().event == "reopen"


def test_waiting_conversation_can_be_resolved_without_a_claim(conversation, agent):
    conversation_escalate(conversation_id=conversation.id, reason="spam")
    conversation_resolve(conversation_id=conversation.id, agent=agent)
    assert _state(conversation) == ConversationState.RESOLVED


def test_shopper_leaving_keeps_the_conversation_and_shows_replies_on_return(
    store, conversation, agent
):
    token_conv = conversation_open(store=store, token=None)
    conversation = Conversation.objects.get(id=token_conv.conversation_id)
    conversation_presence_set(conversation_id=conversation.id, online=True)
    conversation_escalate(conversation_id=conversation.id, reason="x")
    conversation_presence_set(conversation_id=conversation.id, online=False)
    conversation.refresh_from_db()
    assert conversation.shopper_online is False
    assert conversation.state == ConversationState.WAITING
    conversation_claim(conversation_id=conversation.id, agent=agent)
    agent_message_post(conversation_id=conversation.id, agent=agent, text="Found your parcel")
    resumed = conversation_open(store=store, token=token_conv.token)
    assert resumed.resumed
    assert resumed.state == {"state": "agent", "agent": "Alex"}
    assert resumed.history[-1]["text"] == "Found your parcel"
    assert resumed.history[-1]["author"] == "Alex"


def test_escalating_twice_is_harmless(conversation):
    conversation_escalate(conversation_id=conversation.id, reason="first")
    conversation_escalate(conversation_id=conversation.id, reason="second")
    conversation.refresh_from_db()
    assert conversation.escalation_reason == "first"
    assert ConversationEvent.objects.count() == 1


def test_pii_is_redacted_before_storage(conversation):
    posted = shopper_message_post(
        conversation_id=conversation.id,
        text="my email is anna.k@example.com and card 4111 1111 1111 1111",
    )
    stored = Message.objects.get(id=posted.message.id)
    assert "anna.k@example.com" not in stored.text
    assert "4111" not in stored.text
    assert set(stored.redactions) == {"email", "card"}
    assert "anna.k@example.com" in posted.raw_text


def test_ratings_only_on_bot_answers_in_the_same_conversation(store, conversation):
    bot_message = Message.objects.create(
        store=store, conversation=conversation, role=Role.BOT, text="Two days."
    )
    rating = message_rate(
        conversation_id=conversation.id, message_id=bot_message.id, value="down", comment="vague"
    )
    assert (rating.value, rating.comment) == ("down", "vague")
    message_rate(conversation_id=conversation.id, message_id=bot_message.id, value="up")
    assert MessageRating.objects.get().value == "up"
    other = Conversation.objects.get(id=conversation_open(store=store, token=None).conversation_id)
    with pytest.raises(ChatError):
        message_rate(conversation_id=other.id, message_id=bot_message.id, value="up")
    with pytest.raises(ChatError):
        message_rate(conversation_id=conversation.id, message_id=bot_message.id, value="meh")
    shopper = shopper_message_post(conversation_id=conversation.id, text="hi").message
    with pytest.raises(ChatError):
        message_rate(conversation_id=conversation.id, message_id=shopper.id, value="up")


def test_claim_records_waiting_time_even_straight_from_the_bot(conversation, agent):
    before = timezone.now()
    conversation_claim(conversation_id=conversation.id, agent=agent)
    conversation.refresh_from_db()
    assert conversation.escalated_at >= before
    assert conversation.escalation_reason == "taken over by an agent"


def test_shoppers_never_see_a_staff_login_name(conversation, other_agent):
    """An agent without a first name is "a member of our team" to the shopper."""
    conversation_escalate(conversation_id=conversation.id, reason="x")
    conversation_claim(conversation_id=conversation.id, agent=other_agent)
    message = agent_message_post(conversation_id=conversation.id, agent=other_agent, text="Hi")
    conversation.refresh_from_db()
    texts = _system_texts(conversation)
    assert texts[-1] == "A member of our team has joined the conversation."
    assert "author" not in message.as_payload()
    assert conversation_state_payload(conversation) == {"state": "agent", "agent": None}
    assert not any("sam" in text for text in texts)
