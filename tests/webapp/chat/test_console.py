"""The agents' console in the admin: queue, console page, actions, intent corrections."""

from __future__ import annotations

import pytest
from django.urls import reverse

from tests.factories import make_store
from webapp.chat.models import CannedReply, Conversation, ConversationState, Message, Role
from webapp.chat.services import conversation_escalate, conversation_open, shopper_message_post
from webapp.intents.models import ExampleSource, IntentExample
from webapp.stores.services import store_user_upsert

pytestmark = pytest.mark.django_db


@pytest.fixture
def store():
    return make_store(slug="acme", name="Acme")


@pytest.fixture
def agent(store):
    return store_user_upsert(store=store, username="alex", password="pw", role="agent").user


@pytest.fixture
def waiting(store):
    conversation_id = conversation_open(store=store, token=None).conversation_id
    shopper_message_post(conversation_id=conversation_id, text="my parcel is lost, help")
    conversation_escalate(conversation_id=conversation_id, reason="asked for a human")
    return Conversation.objects.get(id=conversation_id)


def _console(conversation, suffix=""):
    url = reverse("admin:chat_conversation_console", args=[conversation.id])
    return url + suffix


def test_admin_index_counts_the_waiting_queue(client, agent, waiting):
    client.force_login(agent)
    page = client.get(reverse("admin:index")).content.decode()
    assert 'id="waiting-count">1<' in page
    queue = client.get(reverse("admin:chat_conversation_changelist") + "?state__exact=waiting")
    assert queue.status_code == 200
    assert "Open console" in queue.content.decode()


def test_queue_filters_by_waiting_time(client, agent, waiting):
    client.force_login(agent)
    url = reverse("admin:chat_conversation_changelist")
    fresh = client.get(url + "?waiting=lt5").content.decode()
    old = client.get(url + "?waiting=gt30").content.decode()
    assert _console(waiting) in fresh
    assert _console(waiting) not in old


def test_the_queue_lists_the_longest_waiting_first(client, store, agent, waiting):
    from datetime import timedelta

    from django.utils import timezone

    now = timezone.now()
    longest = Conversation.objects.get(id=waiting.id)
    Conversation.objects.filter(id=longest.id).update(escalated_at=now - timedelta(minutes=20))
    newer_id = conversation_open(store=store, token=None).conversation_id
    shopper_message_post(conversation_id=newer_id, text="where is my refund?")
    conversation_escalate(conversation_id=newer_id, reason="asked for a human")
    chatting_id = conversation_open(store=store, token=None).conversation_id
    shopper_message_post(conversation_id=chatting_id, text="do you sell mugs?")
    client.force_login(agent)
    listed = client.get(reverse("admin:chat_conversation_changelist")).context["cl"].result_list
    assert [c.id for c in listed] == [longest.id, newer_id, chatting_id]


def test_console_shows_history_canned_replies_and_actions(client, store, agent, waiting):
    CannedReply.objects.create(store=store, title="Greeting", text="Hi, Alex here!")
    client.force_login(agent)
    page = client.get(_console(waiting)).content.decode()
    assert "my parcel is lost, help" in page
    assert "Waiting for an agent" in page
    assert 'data-text="Hi, Alex here!"' in page
    assert f"/ws/agent/conversations/{waiting.id}/" in page


def test_claim_hand_back_and_resolve_buttons(client, agent, waiting):
    client.force_login(agent)
    claim = reverse("admin:chat_conversation_action", args=[waiting.id, "claim"])
    assert client.post(claim).status_code == 302
    waiting.refresh_from_db()
    assert (waiting.state, waiting.agent) == (ConversationState.AGENT, agent)
    client.post(reverse("admin:chat_conversation_action", args=[waiting.id, "hand_back"]))
    waiting.refresh_from_db()
    assert waiting.state == ConversationState.BOT
    client.post(claim)
    client.post(reverse("admin:chat_conversation_action", args=[waiting.id, "resolve"]))
    waiting.refresh_from_db()
    assert waiting.state == ConversationState.RESOLVED
    assert client.get(claim).status_code == 405  # buttons are POST only


def test_a_second_agent_is_told_who_has_it(client, store, agent, waiting):
    other = store_user_upsert(store=store, username="sam", password="pw", role="agent").user
    client.force_login(agent)
    client.post(reverse("admin:chat_conversation_action", args=[waiting.id, "claim"]))
    client.force_login(other)
    response = client.post(
        reverse("admin:chat_conversation_action", args=[waiting.id, "claim"]), follow=True
    )
    # The admin capitalises its messages.
    assert "Alex has this conversation." in response.content.decode()
    waiting.refresh_from_db()
    assert waiting.agent == agent


def test_agents_of_other_stores_and_anonymous_users_are_kept_out(client, waiting):
    other_store = make_store(slug="other")
    stranger = store_user_upsert(store=other_store, username="eve", password="pw", role="agent")
    anonymous = client.get(_console(waiting))
    assert anonymous.status_code == 302
    assert "/admin/login/" in anonymous["Location"]
    client.force_login(stranger.user)
    assert client.get(_console(waiting)).status_code == 404
    claim = reverse("admin:chat_conversation_action", args=[waiting.id, "claim"])
    assert client.post(claim).status_code == 404
    waiting.refresh_from_db()
    assert waiting.state == ConversationState.WAITING


def test_correcting_an_intent_makes_a_training_example(client, agent, waiting):
    message = Message.objects.get(conversation=waiting, role=Role.SHOPPER)
    client.force_login(agent)
    url = reverse("admin:chat_message_correct_intent", args=[waiting.id, message.id])
    response = client.post(url, {"intent": "order_status"}, follow=True)
    assert "Saved as a training example for &#x27;order_status&#x27;" in response.content.decode()
    example = IntentExample.objects.get()
    assert (example.text, example.intent) == ("my parcel is lost, help", "order_status")
    assert (example.source, example.created_by, example.message) == (
        ExampleSource.AGENT,
        agent,
        message,
    )
    message.refresh_from_db()
    assert message.corrected_intent == "order_status"
    # A new label typed by the agent wins over the select, and relabels the same example.
    client.post(url, {"intent": "order_status", "intent_other": "Lost Parcel"})
    assert IntentExample.objects.get().intent == "lost_parcel"
    # Only shoppers' messages can be labelled.
    system = Message.objects.filter(conversation=waiting, role=Role.SYSTEM).first()
    bad = reverse("admin:chat_message_correct_intent", args=[waiting.id, system.id])
    response = client.post(bad, {"intent": "x_y"}, follow=True)
    assert "Only shoppers" in response.content.decode()
    assert IntentExample.objects.count() == 1


def test_the_intent_choice_starts_empty_when_the_bot_had_none(client, agent, waiting):
    """One click must not label a message the bot could not place with the first intent in
    the alphabet: the choice starts empty, and an empty choice saves nothing."""
    message = Message.objects.get(conversation=waiting, role=Role.SHOPPER)
    assert not message.intent
    client.force_login(agent)
    page = client.get(_console(waiting)).content.decode()
    assert '<option value="" selected>— choose the intent —</option>' in page
    url = reverse("admin:chat_message_correct_intent", args=[waiting.id, message.id])
    client.post(url, {"intent": ""}, follow=True)
    assert not IntentExample.objects.exists()
