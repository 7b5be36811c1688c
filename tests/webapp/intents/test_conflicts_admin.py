"""Conflicting labels reach agents: counted on the admin index, listed with links to the
clashing examples, scoped to the agent's own stores."""

from __future__ import annotations

import pytest
from django.urls import reverse
from django.utils import timezone

from tests.factories import make_store
from webapp.intents.models import IntentConflict, IntentExample, text_key
from webapp.stores.services import store_user_upsert

pytestmark = pytest.mark.django_db


def _example(store, text, intent):
    return IntentExample.objects.create(
        store=store, text=text, text_key=text_key(text), intent=intent
    )


def _conflict(store, key, text, labels, resolved=False):
    return IntentConflict.objects.create(
        store=store,
        key=key,
        text=text,
        labels=labels,
        resolved_at=timezone.now() if resolved else None,
    )


def test_agents_see_their_stores_open_conflicts_with_links_to_the_examples(client):
    acme, other = make_store(slug="acme"), make_store(slug="other")
    agent = store_user_upsert(store=acme, username="alex", password="pw", role="agent").user
    first = _example(acme, "Where's my order?", "order_status")
    second = _example(acme, "wheres my order", "delivery_time")
    _conflict(
        acme,
        "a" * 64,
        "Where's my order?",
        {"delivery_time": [f"example:{second.id}"], "order_status": [f"example:{first.id}"]},
    )
    _conflict(acme, "b" * 64, "old clash", {"a": ["example:1"], "b": ["example:2"]}, True)
    _conflict(other, "c" * 64, "another store's", {"a": ["example:3"], "b": ["example:4"]})

    client.force_login(agent)
    index = client.get(reverse("admin:index")).content.decode()
    assert 'id="conflict-count">1<' in index

    listing = client.get(
        reverse("admin:intents_intentconflict_changelist") + "?resolved_at__isempty=1"
    )
    page = listing.content.decode()
    assert listing.status_code == 200
    assert "Where&#x27;s my order?" in page
    assert "another store" not in page
    assert "old clash" not in page
    assert f"?id__in={second.id}" in page
    assert f"?id__in={first.id}" in page

    # The link opens exactly the clashing example, which the agent may fix.
    examples = client.get(reverse("admin:intents_intentexample_changelist") + f"?id__in={first.id}")
    assert examples.status_code == 200
    assert "Where&#x27;s my order?" in examples.content.decode()
    assert "wheres my order" not in examples.content.decode()
    edit = client.get(reverse("admin:intents_intentexample_change", args=[first.id]))
    assert edit.status_code == 200


def test_no_conflict_line_when_there_are_none(client):
    acme = make_store(slug="acme")
    agent = store_user_upsert(store=acme, username="alex", password="pw", role="agent").user
    client.force_login(agent)
    assert 'id="conflict-count"' not in client.get(reverse("admin:index")).content.decode()
