"""Building, versioning, searching and hot-swapping a store's search index."""

import json

import pytest
from django.core.management import CommandError, call_command

from tests.factories import make_faq, make_small_kb, make_store
from webapp.kb.models import SearchIndex
from webapp.kb.runtime import live_knowledge_bases
from webapp.kb.selectors import kb_search, search_index_live
from webapp.kb.services import search_index_build

pytestmark = [pytest.mark.django_db, pytest.mark.slow]


@pytest.fixture
def store(encoder):
    store = make_store(slug="acme")
    make_small_kb(store)
    return store


def test_first_build_creates_an_immutable_version(store, settings):
    result = search_index_build(store_id=store.id)
    assert result.built
    index = result.index
    assert index.version == 1
    assert index.documents == 6
    assert index.chunks == 12
    assert index.index_kind == "flat"
    assert index.directory.is_dir()
    assert index.directory.is_relative_to(settings.MODEL_DIR)
    manifest = json.loads((index.directory / "manifest.json").read_text())
    assert manifest["vectors_sha256"] == index.checksum


def test_unchanged_content_is_not_rebuilt(store):
    first = search_index_build(store_id=store.id)
    second = search_index_build(store_id=store.id)
    assert not second.built
    assert second.index.id == first.index.id
    forced = search_index_build(store_id=store.id, force=True)
    assert forced.built
    assert forced.index.version == 2


def test_search_finds_answers_and_products_with_urls(store):
    search_index_build(store_id=store.id)
    sources = kb_search(store_id=store.id, query="when will my parcel get here?", k=3)
    assert sources[0].kind == "faq"
    assert sources[0].title == "How long does shipping take?"
    assert sources[0].answer.startswith("Parcels arrive")
    assert sources[0].url == f"/s/acme/faq/#faq-{sources[0].id}"
    products = kb_search(store_id=store.id, query="something to boil water", k=3)
    top_product = next(s for s in products if s.kind == "product")
    assert top_product.title == "Glass electric kettle 1.7 L"
    assert top_product.url == "/s/acme/p/KET-1/"
    assert top_product.price == "34.95 EUR"


def test_search_without_index_is_empty(encoder):
    assert kb_search(store_id=make_store().id, query="anything") == []


def test_stores_are_isolated(store):
    other = make_store(slug="other")
    make_faq(other, "Do you sell parrots?", "Only parrot toys.")
    search_index_build(store_id=store.id)
    search_index_build(store_id=other.id)
    titles = {s.title for s in kb_search(store_id=store.id, query="parrots", k=10)}
    assert "Do you sell parrots?" not in titles


def test_new_version_is_swapped_in_and_deleted_rows_drop_out(store, django_assert_max_num_queries):
    search_index_build(store_id=store.id)
    kb_search(store_id=store.id, query="returns")
    v1 = search_index_live(store_id=store.id)
    assert live_knowledge_bases.loaded_index_id(store.id) == v1.id
    # Deleted rows vanish from results at once, before any rebuild.
    store.faq_entries.filter(question__startswith="How do I return").delete()
    titles = [s.title for s in kb_search(store_id=store.id, query="how do I return an item", k=5)]
    assert "How do I return an item?" not in titles
    make_faq(store, "Can I collect my order in Utrecht?", "Yes, at our Utrecht pick-up point.")
    v2 = search_index_build(store_id=store.id).index
    assert v2.version == 2
    # The hot path: live version lookup + two row lookups, whatever the index size.
    with django_assert_max_num_queries(3):
        sources = kb_search(store_id=store.id, query="pick up my parcel in utrecht", k=3)
    assert sources[0].title == "Can I collect my order in Utrecht?"
    assert live_knowledge_bases.loaded_index_id(store.id) == v2.id
    assert v1.directory.is_dir()  # old versions stay on disk, untouched


def test_build_index_command(store, capsys):
    call_command("build_index", "--store", "acme")
    assert "Built index v1 for acme: 6 documents, 12 chunks" in capsys.readouterr().out
    call_command("build_index", "--store", "acme", "--json")
    assert json.loads(capsys.readouterr().out)["built"] is False
    with pytest.raises(CommandError, match="Unknown store"):
        call_command("build_index", "--store", "nope")


def test_search_kb_command_single_and_batch(store, tmp_path, capsys):
    with pytest.raises(CommandError, match="no index yet"):
        call_command("search_kb", "shipping", "--store", "acme")
    call_command("build_index", "--store", "acme")
    capsys.readouterr()
    call_command(
        "search_kb", "how long does delivery take", "--store", "acme", "--k", "2", "--json"
    )
    result = json.loads(capsys.readouterr().out)
    assert result["query"] == "how long does delivery take"
    assert len(result["hits"]) == 2
    assert result["hits"][0]["kind"] == "faq"
    assert result["hits"][0]["title"] == "How long does shipping take?"
    assert set(result["hits"][0]) == {"kind", "id", "title", "score"}
    queries = tmp_path / "queries.txt"
    queries.write_text("do you take paypal\n\nforgot my password\n")
    out = tmp_path / "hits.jsonl"
    call_command("search_kb", "--store", "acme", "--input", str(queries), "--output", str(out))
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [row["query"] for row in rows] == ["do you take paypal", "forgot my password"]
    assert rows[0]["hits"][0]["title"] == "Which payment methods do you accept?"
    assert rows[1]["hits"][0]["title"] == "How do I reset my password?"


def test_search_kb_argument_errors(store):
    with pytest.raises(CommandError, match="either a query or --input"):
        call_command("search_kb", "--store", "acme")
    with pytest.raises(CommandError, match="--k must be between"):
        call_command("search_kb", "x", "--store", "acme", "--k", "0")


def test_versions_are_numbered_per_store(store):
    other = make_store(slug="other")
    make_faq(other, "Q?", "A.")
    search_index_build(store_id=store.id)
    search_index_build(store_id=other.id)
    assert list(SearchIndex.objects.order_by("store_id").values_list("version", flat=True)) == [
        1,
        1,
    ]
