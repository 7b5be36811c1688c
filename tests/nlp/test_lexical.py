"""Lexical features for the floor: TF-IDF n-grams beside the embeddings, and a floor that
uses them when the words decide the label."""

import json

import numpy as np
import pytest

from nlp.floor import choose_linear_head, fit_linear_head
from nlp.intents import IntentClassifier, IntentTrainingConfig, train_intent_classifier
from nlp.lexical import LexicalFeatures, LexicalHead


def _dense(rows) -> np.ndarray:
    out = np.zeros((len(rows), rows.width))
    for i in range(len(rows)):
        start, end = rows.indptr[i], rows.indptr[i + 1]
        out[i, rows.indices[start:end]] = rows.data[start:end]
    return out


def test_words_and_in_word_characters_each_weigh_one():
    features = LexicalFeatures.fit(["refund my order", "return my order", "hello"])

    assert "w:refund" in features.vocabulary
    assert "w:my order" in features.vocabulary  # word bigrams
    assert "c: re" in features.vocabulary  # character n-grams start at the word boundary
    dense = _dense(features.transform(["Refund my ORDER please", "zzz"]))
    words = [i for i, g in enumerate(features.vocabulary) if g.startswith("w:")]
    chars = [i for i, g in enumerate(features.vocabulary) if g.startswith("c:")]
    assert np.linalg.norm(dense[0, words]) == pytest.approx(1.0)
    assert np.linalg.norm(dense[0, chars]) == pytest.approx(1.0)
    assert not dense[1].any()  # nothing it has seen: an empty row, not an error
    # A rarer n-gram weighs more than one every text has.
    index = {g: i for i, g in enumerate(features.vocabulary)}
    assert dense[0, index["w:refund"]] > dense[0, index["w:my"]]


def test_the_vocabulary_keeps_the_commonest_n_grams():
    features = LexicalFeatures.fit(["aa bb", "aa cc", "aa dd"], max_features=3)

    assert features.width == 3
    # Only n-grams of "aa" are in every text; the ties among them go by the n-gram.
    assert all(set(gram[2:]) <= {"a", " "} for gram in features.vocabulary)


def test_sparse_rows_multiply_select_and_round_trip():
    features = LexicalFeatures.fit(["track my parcel", "cancel it", "hi there"])
    rows = features.transform(["track it", "", "hi parcel"])
    weight = np.random.default_rng(0).normal(size=(4, rows.width)).astype(np.float32)

    np.testing.assert_allclose(rows.dot(weight), _dense(rows) @ weight.T, atol=1e-6)
    np.testing.assert_allclose(_dense(rows.rows([2, 0])), _dense(rows)[[2, 0]])
    again = LexicalFeatures.from_json(features.to_json())
    np.testing.assert_allclose(_dense(again.transform(["hi parcel"])), _dense(rows)[[2]])


def test_a_head_on_n_grams_learns_what_the_embeddings_cannot_tell_apart():
    # The "embeddings" are noise; only the words say which of two product codes it is.
    rng = np.random.default_rng(3)
    texts = [f"{code} {w}" for code in ("xr7", "qz4") for w in ("help", "issue", "broken") * 6]
    targets = np.array([0] * 18 + [1] * 18)
    vectors = 0.1 * rng.normal(size=(36, 8)).astype(np.float32)
    rows = LexicalFeatures.fit(texts).transform(texts)
    train, val = list(range(0, 36, 2)), list(range(1, 36, 2))

    plain = choose_linear_head(vectors[train], targets[train], vectors[val], targets[val], 2)
    lexical = choose_linear_head(
        vectors[train],
        targets[train],
        vectors[val],
        targets[val],
        2,
        train_lexical=rows.rows(train),
        val_lexical=rows.rows(val),
    )

    assert lexical.val_score >= 0.9
    assert plain.val_score < 0.8
    head = fit_linear_head(vectors, targets, 2, c=16.0, lexical=rows)
    assert head.lexical_weight.shape == (2, rows.width)
    with pytest.raises(ValueError, match="lexical"):
        head.logits(vectors)
    with pytest.raises(ValueError, match="both splits"):
        choose_linear_head(vectors, targets, vectors, targets, 2, train_lexical=rows)


# Product codes decide the intent: the n-grams see "20" against "90" directly.
_CODES = {"kx20_question": "KX-20", "kx90_question": "KX-90"}
_ASKS = [
    "does the {} come with a charger",
    "is the {} waterproof",
    "how heavy is the {}",
    "what colour options for the {}",
    "can the {} be wall mounted",
    "battery life of the {}?",
    "{} warranty length",
    "is there a manual for {}",
    "does {} work with an iphone",
    "{} in stock?",
]
CODE_TEXTS = [ask.format(code) for code in _CODES.values() for ask in _ASKS]
CODE_LABELS = [label for label in _CODES for _ in _ASKS]


def test_training_keeps_a_lexical_floor_that_saves_loads_and_serves(tmp_path):
    config = IntentTrainingConfig(fine_tune=False, val_fraction=0.4, familiarity_quantile=0.0)
    model = train_intent_classifier(CODE_TEXTS, CODE_LABELS, config)

    floor = model.report.selection["floor"]
    assert floor["lexical"] is True
    assert model.lexical is not None
    assert floor["val_score"] == max(s for _, _, s in floor["tried"] + floor["tried_lexical"])
    assert [p.label for p in model.predict(["KX-90 charger?", "kx-20 waterproof"])] == [
        "kx90_question",
        "kx20_question",
    ]
    # Sharing the retrieval pass still works; it needs the text for the n-grams.
    from retrieval.embedding import shared_encoder

    queries = ["KX-90 charger?", "is the KX-20 heavy"]
    with pytest.raises(ValueError, match="pass the texts"):
        model.predict_vectors(shared_encoder().encode(queries))
    shared = model.predict_vectors(shared_encoder().encode(queries), queries)
    for mine, theirs in zip(shared, model.predict(queries), strict=True):
        assert mine.label == theirs.label
        assert mine.confidence == pytest.approx(theirs.confidence, abs=1e-3)

    model.save(tmp_path / "lexical")
    assert json.loads((tmp_path / "lexical" / "meta.json").read_text())["training"]["selection"][
        "floor"
    ]["lexical"]
    loaded = IntentClassifier.load(tmp_path / "lexical", device="cpu")
    assert isinstance(loaded.lexical, LexicalHead)
    np.testing.assert_allclose(
        loaded.predict_proba(CODE_TEXTS[:6]), model.predict_proba(CODE_TEXTS[:6]), atol=1e-5
    )


def test_the_lexical_floor_can_be_turned_off():
    config = IntentTrainingConfig(
        fine_tune=False, val_fraction=0.4, familiarity_quantile=0.0, floor_lexical=False
    )
    model = train_intent_classifier(CODE_TEXTS, CODE_LABELS, config)

    assert model.lexical is None
    assert model.report.selection["floor"]["lexical"] is False
    assert model.report.selection["floor"]["tried_lexical"] == []


def test_a_fine_tuned_network_can_serve_with_the_n_gram_head_beside_it(tmp_path, monkeypatch):
    import nlp.intents

    # Only weight 1 on offer, and no floor to lose to: the first epoch keeps the n-grams.
    monkeypatch.setattr(nlp.intents, "NGRAM_WEIGHTS", (1.0,))
    config = IntentTrainingConfig(
        floor=False, max_epochs=1, val_fraction=0.4, familiarity_quantile=0.0
    )
    model = train_intent_classifier(CODE_TEXTS, CODE_LABELS, config)

    assert model.report.chosen == "fine_tuned"
    assert model.report.history[0].ngram_weight == 1.0
    assert model.report.selection["fine_tuned"]["ngram_weight"] == 1.0
    assert model.lexical is not None
    assert not model.shares_base_encoder
    network_alone = model.replaced(lexical=None).logits(CODE_TEXTS[:4])
    np.testing.assert_allclose(
        model.logits(CODE_TEXTS[:4]),
        network_alone + model.lexical.logits(CODE_TEXTS[:4]),
        atol=1e-6,
    )
    model.save(tmp_path / "blend")
    loaded = IntentClassifier.load(tmp_path / "blend", device="cpu")
    np.testing.assert_allclose(
        loaded.predict_proba(CODE_TEXTS[:6]), model.predict_proba(CODE_TEXTS[:6]), atol=1e-5
    )


def _scoring_run(targets: list[int]):
    from nlp.intents import _Clock, _Run

    return _Run(
        config=IntentTrainingConfig(),
        texts=[],
        labels=[str(t) for t in targets],
        label_names=("0", "1"),
        targets=np.array(targets),
        encoded=[],
        max_length=64,
        pad_id=0,
        device="cpu",
        clock=_Clock(0.0, 1.0),
        polar=(),
        val_idx=list(range(len(targets))),
    )


def test_epochs_take_the_n_gram_weight_that_scores_best_on_validation():
    from nlp.intents import _NGrams, _with_ngrams

    run = _scoring_run([0, 0, 1, 1])
    network = np.array([[2.0, 0.0], [0.0, 1.0], [0.0, 2.0], [0.0, 2.0]])  # the second is wrong
    head = fit_linear_head(np.zeros((2, 0)), np.array([0, 1]), 2, c=1.0)
    helpful = _NGrams(None, np.array([[1.0, 0.0], [3.0, 0.0], [0.0, 1.0], [0.0, 1.0]]), head)
    harmful = _NGrams(None, np.array([[0.0, 9.0], [0.0, 9.0], [0.0, 0.0], [0.0, 0.0]]), head)

    fixed, weight = _with_ngrams(network, helpful, run)
    assert weight > 0
    assert (fixed.argmax(axis=1) == run.targets).all()
    kept, weight = _with_ngrams(network, harmful, run)
    assert weight == 0.0
    np.testing.assert_array_equal(kept, network)
    assert _with_ngrams(network, None, run) == (network, 0.0)
