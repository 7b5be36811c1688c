import pytest

from retrieval.documents import FAQ, PRODUCT, Document, chunk_document, content_hash, split_words


def test_short_text_is_one_window():
    assert split_words("Ships in two days.", max_words=10, overlap=2) == ["Ships in two days."]


def test_long_text_splits_on_sentences_with_overlap():
    sentences = [f"Sentence number {i} has exactly seven words." for i in range(10)]
    windows = split_words(" ".join(sentences), max_words=20, overlap=7)
    assert len(windows) > 1
    assert all(len(window.split()) <= 20 for window in windows)
    # Consecutive windows overlap by one whole sentence.
    assert windows[0].split()[-7:] == windows[1].split()[:7]
    # Nothing is lost: every sentence appears in some window.
    assert all(any(s in window for window in windows) for s in sentences)


def test_overlong_sentence_is_cut_on_words():
    text = " ".join(f"w{i}" for i in range(50))
    windows = split_words(text, max_words=20, overlap=5)
    assert all(len(w.split()) <= 20 for w in windows)
    assert "w49" in windows[-1]


def test_split_rejects_overlap_not_smaller_than_window():
    with pytest.raises(ValueError, match="overlap"):
        split_words("a b c", max_words=5, overlap=5)


def test_faq_chunks_are_question_and_question_plus_answer():
    doc = Document(FAQ, 7, "How long does shipping take?", "One to two business days.")
    chunks = chunk_document(doc)
    assert [c.part for c in chunks] == ["title", "body"]
    assert chunks[0].text == "How long does shipping take?"
    assert chunks[1].text == "How long does shipping take?\nOne to two business days."
    assert {(c.kind, c.doc_id) for c in chunks} == {(FAQ, 7)}


def test_product_head_chunk_carries_facts():
    doc = Document(PRODUCT, 3, "Glass kettle", "Boils fast.", "Kitchen; 34.95 EUR; colour: clear")
    head = chunk_document(doc)[0]
    assert head.text == "Glass kettle. Kitchen; 34.95 EUR; colour: clear"


def test_unknown_kind_is_rejected():
    with pytest.raises(ValueError, match="kind"):
        Document("order", 1, "x", "y")


def test_content_hash_ignores_order_but_not_content():
    a = Document(FAQ, 1, "q1", "a1")
    b = Document(FAQ, 2, "q2", "a2")
    assert content_hash([a, b]) == content_hash([b, a])
    assert content_hash([a, b]) != content_hash([a, Document(FAQ, 2, "q2", "changed")])
    assert content_hash([a]) != content_hash([a], salt="other-encoder")
