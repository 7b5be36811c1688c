"""Two agents claiming one conversation at the same moment, on real PostgreSQL row locks."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connections

import webapp.chat.services as chat_services
from tests.factories import make_store
from webapp.chat.models import Conversation, ConversationEvent, ConversationState
from webapp.chat.services import ClaimConflict, conversation_claim, conversation_escalate
from webapp.stores.services import store_user_upsert

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]


def test_simultaneous_claims_one_agent_wins_the_other_is_told(monkeypatch):
    store = make_store(slug="acme")
    agents = [
        store_user_upsert(store=store, username=name, password="pw", role="agent").user
        for name in ("alex", "sam")
    ]
    conversation = Conversation.objects.create(
        store=store, token_hash="x" * 64, last_activity_at="2026-11-24T10:00:00Z"
    )
    conversation_escalate(conversation_id=conversation.id, reason="asked for a human")

    start = threading.Barrier(2, timeout=30)
    original = chat_services._transition

    def slow_transition(*args, **kwargs):
        # Hold the row lock a moment so the other claim is certainly waiting on it.
        time.sleep(0.3)
        return original(*args, **kwargs)

    monkeypatch.setattr(chat_services, "_transition", slow_transition)

    def claim(agent):
        start.wait()
        try:
            conversation_claim(conversation_id=conversation.id, agent=agent)
            return "claimed"
        except ClaimConflict as exc:
            return f"conflict: {exc}"
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=2) as pool:
        outcomes = list(pool.map(claim, agents))

    assert sorted(outcome.split(":")[0] for outcome in outcomes) == ["claimed", "conflict"]
    conversation.refresh_from_db()
    assert conversation.state == ConversationState.AGENT
    winner = agents[outcomes.index("claimed")]
    assert conversation.agent == winner
    loser_message = next(o for o in outcomes if o.startswith("conflict"))
    assert f"{winner.username} has this conversation" in loser_message
    assert ConversationEvent.objects.filter(event="claim").count() == 1
