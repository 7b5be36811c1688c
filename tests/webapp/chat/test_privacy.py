"""Privacy: redacted rating comments, a shopper's data exported or erased on request, and
conversations deleted after the store's retention period."""

from __future__ import annotations

import json
import secrets
from datetime import timedelta

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.utils import timezone

from tests.factories import make_store
from webapp.chat.models import Conversation, Message, MessageRating
from webapp.chat.services import conversations_purge_expired, message_rate
from webapp.intents.models import IntentExample, text_key
from webapp.stores.services import store_user_upsert

pytestmark = pytest.mark.django_db
CHANGELIST = "/admin/chat/conversation/"


def _conversation(store, *, days_ago: float = 0, text: str = "where is my parcel?"):
    when = timezone.now() - timedelta(days=days_ago)
    conversation = Conversation.objects.create(
        store=store, token_hash=secrets.token_hex(32), last_activity_at=when
    )
    shopper = Message.objects.create(
        store=store, conversation=conversation, role="shopper", text=text
    )
    bot = Message.objects.create(store=store, conversation=conversation, role="bot", text="Here.")
    return conversation, shopper, bot


def test_rating_comments_are_stored_redacted():
    store = make_store()
    conversation, _, bot = _conversation(store)
    message_rate(
        conversation_id=conversation.id,
        message_id=bot.id,
        value="down",
        comment="wrong! card 4111 1111 1111 1111 cvv 123, call me on +31 6 12345678 or a@b.io",
    )
    comment = MessageRating.objects.get(message=bot).comment
    assert comment == "wrong! card [card] [cvv], call me on [phone] or [email]"


def test_expired_conversations_are_deleted_in_batches_and_training_examples_stay():
    store, keeper = make_store(slug="short"), make_store(slug="forever")
    store.retention_days, keeper.retention_days = 30, 0
    store.save()
    keeper.save()
    old = [_conversation(store, days_ago=40) for _ in range(3)]
    recent, _, _ = _conversation(store, days_ago=10)
    kept, _, _ = _conversation(keeper, days_ago=4000)
    _, shopper, bot = old[0]
    MessageRating.objects.create(message=bot, value="down")
    example = IntentExample.objects.create(
        store=store, text="where is my parcel?", text_key=text_key("where is my parcel?"),
        intent="order_status", message=shopper,
    )  # fmt: skip

    assert conversations_purge_expired(batch=2) == 3

    remaining = set(Conversation.objects.values_list("id", flat=True))
    assert remaining == {recent.id, kept.id}
    assert not Message.objects.filter(conversation_id__in=[c.id for c, _, _ in old]).exists()
    assert not MessageRating.objects.exists()
    example.refresh_from_db()
    assert example.message_id is None
    assert example.text == "where is my parcel?"
    assert conversations_purge_expired() == 0


@pytest.fixture
def agent_client(client):
    store, other = make_store(slug="acme"), make_store(slug="other")
    user = store_user_upsert(store=store, username="ann", password="pw-123456", role="agent").user
    client.force_login(user)
    return client, store, other


def test_an_agent_exports_a_shoppers_conversation_as_json(agent_client):
    client, store, other = agent_client
    mine, _, bot = _conversation(store, text="my email is x@y.io, parcel late")
    MessageRating.objects.create(message=bot, value="up", comment="thanks")
    _conversation(store, text="someone else")
    foreign, _, _ = _conversation(other, text="another store")
    response = client.post(
        CHANGELIST,
        {"action": "export_json", ACTION_CHECKBOX_NAME: [str(mine.id), str(foreign.id)]},
    )
    assert response.status_code == 200
    assert response["Content-Disposition"].endswith('"conversations.json"')
    exported = json.loads(response.content)["conversations"]
    assert [c["id"] for c in exported] == [mine.id]  # never another store's
    texts = [m["text"] for m in exported[0]["messages"]]
    assert texts == ["my email is x@y.io, parcel late", "Here."]
    assert exported[0]["messages"][1]["rating"] == {"value": "up", "comment": "thanks"}


def test_an_agent_erases_a_shoppers_conversation(agent_client):
    client, store, _ = agent_client
    gone, _, _ = _conversation(store)
    stays, _, _ = _conversation(store)
    client.post(
        CHANGELIST,
        {"action": "delete_selected", ACTION_CHECKBOX_NAME: [str(gone.id)], "post": "yes"},
    )
    assert set(Conversation.objects.values_list("id", flat=True)) == {stays.id}
    assert not Message.objects.filter(conversation_id=gone.id).exists()
