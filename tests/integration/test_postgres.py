"""The services pass really runs on PostgreSQL, and index versions stay unique under real
concurrency."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection, connections

import webapp.kb.services as kb_services
from tests.factories import make_small_kb, make_store
from webapp.catalog.models import FaqEntry
from webapp.kb.models import SearchIndex
from webapp.kb.services import BuildResult, search_index_build

pytestmark = pytest.mark.services


@pytest.mark.django_db
def test_test_database_is_postgresql() -> None:
    assert connection.vendor == "postgresql"
    assert connection.settings_dict["NAME"].startswith("test_")
    with connection.cursor() as cursor:
        cursor.execute("SELECT version()")
        (version,) = cursor.fetchone()
    assert version.startswith("PostgreSQL")


def _race_builds(store_id: int, monkeypatch: pytest.MonkeyPatch) -> list[BuildResult]:
    """Two threads call ``search_index_build`` for one store; both get past the unlocked
    "is the live index current?" check before either of them writes a version."""
    both_building = threading.Barrier(2, timeout=60)
    original_build = kb_services.build_knowledge_base

    def build_after_both_checked(*args, **kwargs):
        both_building.wait()
        return original_build(*args, **kwargs)

    monkeypatch.setattr(kb_services, "build_knowledge_base", build_after_both_checked)

    def build() -> BuildResult:
        try:
            return search_index_build(store_id=store_id)
        finally:
            connections.close_all()  # this thread's own connection to the test database

    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = [pool.submit(build) for _ in range(2)]
        results = [future.result(timeout=120) for future in futures]
    monkeypatch.setattr(kb_services, "build_knowledge_base", original_build)
    return results


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_concurrent_builds_of_one_store_make_exactly_one_version(
    encoder, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = make_store()
    make_small_kb(store)

    results = _race_builds(store.id, monkeypatch)

    assert sorted(result.built for result in results) == [False, True]
    assert {result.index.id for result in results} == {results[0].index.id}
    assert list(SearchIndex.objects.filter(store=store).values_list("version", flat=True)) == [1]
    live = SearchIndex.objects.get(store=store)
    assert live.directory.is_dir()
    # Only the winner's folder exists: the loser wrote nothing.
    index_root = live.directory.parent
    assert sorted(path.name for path in index_root.iterdir()) == ["v000001"]

    # The same race once the live index is stale: again exactly one new version.
    FaqEntry.objects.filter(store=store, question__startswith="How long").update(
        answer="Parcels arrive in 1-3 business days in the Netherlands and Belgium."
    )
    results = _race_builds(store.id, monkeypatch)

    assert sorted(result.built for result in results) == [False, True]
    assert {result.index.version for result in results} == {2}
    assert list(SearchIndex.objects.filter(store=store).values_list("version", flat=True)) == [
        2,
        1,
    ]
    assert sorted(path.name for path in index_root.iterdir()) == ["v000001", "v000002"]
