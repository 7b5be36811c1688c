"""An admin-style edit rebuilds the search index on a real Celery worker, and the web process
serves the new version without a restart."""

from __future__ import annotations

import pytest
from django.db import transaction

from tests.factories import make_small_kb, make_store
from tests.integration.conftest import CeleryWorker, wait_until
from webapp.catalog.models import FaqEntry
from webapp.catalog.services import faq_upsert
from webapp.kb.models import SearchIndex
from webapp.kb.runtime import live_knowledge_bases
from webapp.kb.selectors import kb_search, search_index_live
from webapp.kb.services import search_index_build, search_index_request_rebuild
from workers.tasks import rebuild_search_index

pytestmark = [pytest.mark.services, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

SHIPPING_QUESTION = "How long does shipping take?"
NEW_SHIPPING_ANSWER = "Parcels arrive in 1-3 business days in the Netherlands and Belgium."
GIFT_QUESTION = "Do you offer gift wrapping?"
GIFT_ANSWER = "Yes: tick 'gift wrap' at checkout and we wrap each item for 2.50 EUR."
GIFT_PARAPHRASE = "can you wrap my order as a present?"


def _live_version(store_id: int) -> int | None:
    live = search_index_live(store_id=store_id)
    return live.version if live else None


def test_admin_edit_is_rebuilt_by_the_worker_and_served_here(
    celery_worker: CeleryWorker, encoder
) -> None:
    store = make_store()
    make_small_kb(store)
    first = search_index_build(store_id=store.id)
    assert first.built
    assert first.index.version == 1
    # The web process has v1 loaded and the paraphrase finds nothing about gift wrapping yet.
    before = kb_search(store_id=store.id, query=GIFT_PARAPHRASE)
    assert GIFT_QUESTION not in [source.title for source in before]
    assert live_knowledge_bases.loaded_index_id(store.id) == first.index.id

    # What the admin does: edit rows in one transaction, then ask for a rebuild on commit.
    with transaction.atomic():
        shipping = FaqEntry.objects.get(store=store, question=SHIPPING_QUESTION)
        edited = faq_upsert(
            store=store,
            values={
                "question": SHIPPING_QUESTION,
                "answer": NEW_SHIPPING_ANSWER,
                "category": shipping.category,
                "intent": shipping.intent,
            },
        )
        added = faq_upsert(
            store=store,
            values={"question": GIFT_QUESTION, "answer": GIFT_ANSWER, "category": "Help"},
        )
        search_index_request_rebuild(store_id=store.id)
    assert (edited, added) == ("updated", "created")

    wait_until(
        lambda: _live_version(store.id) == 2,
        timeout=60,
        interval=0.5,
        what="the worker to publish index v2",
    )
    live = search_index_live(store_id=store.id)
    assert live.documents == first.index.documents + 1
    assert live.content_hash != first.index.content_hash

    results = kb_search(store_id=store.id, query=GIFT_PARAPHRASE)
    # The in-process cache swapped to the worker's version without being told.
    assert live_knowledge_bases.loaded_index_id(store.id) == live.id
    gift = FaqEntry.objects.get(store=store, question=GIFT_QUESTION)
    assert results, "the rebuilt index found nothing"
    assert (results[0].kind, results[0].id) == ("faq", gift.id), results
    assert results[0].answer == GIFT_ANSWER
    # The edited answer is in the indexed text, not only in the row it resolves to.
    knowledge = live_knowledge_bases.get(live)
    assert any(NEW_SHIPPING_ANSWER in chunk.text for chunk in knowledge.chunks)

    # Running the task again over unchanged content builds nothing.
    again = rebuild_search_index.delay(store.id)
    line = celery_worker.wait_for_task(again.id, timeout=60)
    assert "succeeded" in line, line
    assert "'built': False" in line, line
    assert "'version': 2" in line, line
    assert list(SearchIndex.objects.filter(store=store).values_list("version", flat=True)) == [
        2,
        1,
    ]
    assert sorted(path.name for path in live.directory.parent.iterdir()) == [
        "v000001",
        "v000002",
    ]
