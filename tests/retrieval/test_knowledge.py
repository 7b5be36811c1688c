import json

import numpy as np
import pytest

from retrieval.documents import FAQ, PRODUCT, Document
from retrieval.knowledge import MANIFEST, VECTORS, KnowledgeBase, build_knowledge_base

DOCS = [
    Document(FAQ, 1, "How long does shipping take?", "Orders arrive in 1-2 business days."),
    Document(FAQ, 2, "How do I return an item?", "Print the free label and drop the parcel off."),
    Document(FAQ, 3, "Can I pay with PayPal?", "Yes, PayPal, iDEAL and cards are accepted."),
    Document(PRODUCT, 10, "Glass electric kettle", "Boils 1.7 litres.", "Kitchen; 34.95 EUR"),
    Document(PRODUCT, 11, "Two-person dome tent", "Light tent for hiking.", "Outdoor; 149 EUR"),
]


@pytest.fixture(scope="module")
def knowledge(encoder):
    return build_knowledge_base(DOCS, encoder.encode, encoder_name="minilm", content_hash="h1")


@pytest.mark.slow
@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("when will my parcel arrive", (FAQ, 1)),
        ("I want to send my order back", (FAQ, 2)),
        ("do you take paypal", (FAQ, 3)),
        ("something to boil water", (PRODUCT, 10)),
        ("camping shelter for two", (PRODUCT, 11)),
    ],
)
def test_paraphrases_find_their_document(knowledge, encoder, query, expected):
    hits = knowledge.search(encoder.encode([query])[0], 3, query_text=query)
    assert (hits[0].kind, hits[0].id) == expected
    assert len({(h.kind, h.id) for h in hits}) == len(hits)  # one hit per document
    assert hits[0].score >= hits[-1].score


@pytest.mark.slow
def test_kinds_filter(knowledge, encoder):
    hits = knowledge.search(encoder.encode(["kettle"])[0], 5, kinds=[FAQ])
    assert hits
    assert all(hit.kind == FAQ for hit in hits)


@pytest.mark.slow
def test_save_load_gives_identical_results(knowledge, encoder, tmp_path):
    target = tmp_path / "v000001"
    knowledge.save(target)
    assert json.loads((target / MANIFEST).read_text())["chunks"] == len(knowledge)
    loaded = KnowledgeBase.load(target, device="cpu")
    query = encoder.encode(["returns"])[0]
    assert [(h.kind, h.id) for h in loaded.search(query, 5)] == [
        (h.kind, h.id) for h in knowledge.search(query, 5)
    ]
    assert not list(tmp_path.glob(".staging-*"))


@pytest.mark.slow
def test_versions_are_immutable(knowledge, tmp_path):
    knowledge.save(tmp_path / "v1")
    with pytest.raises(FileExistsError, match="immutable"):
        knowledge.save(tmp_path / "v1")


@pytest.mark.slow
def test_corrupt_artefact_is_refused(knowledge, tmp_path):
    knowledge.save(tmp_path / "v1")
    with open(tmp_path / "v1" / VECTORS, "r+b") as handle:
        handle.seek(-8, 2)
        handle.write(b"\x00" * 8)
    with pytest.raises(ValueError, match="checksum"):
        KnowledgeBase.load(tmp_path / "v1", device="cpu")


def test_empty_knowledge_base_returns_no_hits():
    kb = build_knowledge_base(
        [], lambda texts: np.zeros((0, 384), np.float32), encoder_name="x", content_hash="empty"
    )
    assert kb.search(np.zeros(384, np.float32), 3) == []


def test_progress_is_reported_per_batch():
    seen = []
    docs = [Document(FAQ, i, f"question {i}", f"answer {i}") for i in range(10)]

    def fake_encode(texts):
        vectors = np.random.default_rng(len(texts)).normal(size=(len(texts), 8))
        return (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)

    kb = build_knowledge_base(
        docs,
        fake_encode,
        encoder_name="fake",
        content_hash="p",
        batch_size=8,
        progress=lambda done, total: seen.append((done, total)),
    )
    assert len(kb) == 20
    assert seen == [(8, 20), (16, 20), (20, 20)]
