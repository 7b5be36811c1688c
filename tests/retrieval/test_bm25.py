from retrieval.bm25 import BM25, tokenize


def test_tokenize_drops_stopwords_and_folds_plurals():
    assert tokenize("How do I return the shoes?") == ["return", "shoe"]


def test_bm25_ranks_the_matching_document_first():
    texts = ["shipping times to germany", "return policy for shoes", "gift card balance"]
    bm25 = BM25(texts)
    assert bm25.top("how do I return my shoes", 3)[0][0] == 1
    assert bm25.top("gift cards", 1) == [(2, bm25.scores("gift cards")[2].item())]


def test_bm25_with_no_overlap_returns_nothing():
    bm25 = BM25(["alpha beta", "gamma delta"])
    assert bm25.top("zeta", 2) == []
    assert bm25.scores("zeta").sum() == 0


def test_bm25_empty_corpus():
    assert BM25([]).top("anything", 3) == []
