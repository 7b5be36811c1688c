import numpy as np
import pytest

from nlp.intents import IntentTrainingConfig
from nlp.sentiment import (
    LABELS,
    FineTunedSentiment,
    LexiconSentiment,
    aspect_polarities,
    clauses,
    label_for_score,
    rating_label,
    sentiment_training_config,
    train_sentiment_classifier,
)
from tests.nlp.sentiment_data import REVIEWS


def test_ratings_map_to_labels():
    assert [rating_label(r) for r in (1, 2, 3, 4, 5)] == [
        "negative", "negative", "neutral", "positive", "positive",
    ]  # fmt: skip
    with pytest.raises(ValueError, match="outside 1-5"):
        rating_label(0)
    assert label_for_score(0.3) == "positive"
    assert label_for_score(-0.3) == "negative"
    assert label_for_score(0.01) == "neutral"


def test_clauses_split_at_punctuation_and_contrast_words():
    assert clauses("Lovely lamp, but the box was crushed. Shame!") == [
        "Lovely lamp,", "the box was crushed.", "Shame!",
    ]  # fmt: skip
    assert clauses("  ") == []


def test_aspects_take_their_clause_polarity():
    aspects = aspect_polarities(
        "The kettle is gorgeous, but the delivery was a disaster. The price is great value."
    )
    assert aspects["delivery"] < 0
    assert aspects["price"] > 0
    assert "size_fit" not in aspects
    assert aspect_polarities("Arrived in two days.") == {"delivery": 0.0}
    # No feeling in the clause: the review's overall score stands in.
    assert aspect_polarities("Leaks after two weeks", overall=-0.8) == {"quality": -0.8}
    assert aspect_polarities("Runs small so order a size up", overall=0.5) == {"size_fit": 0.5}
    assert aspect_polarities("") == {}


def test_lexicon_labels_clear_reviews():
    results = LexiconSentiment().predict(
        ["I love it, wonderful quality!", "Horrible. Broken and useless.", "It is a mug."]
    )
    assert [r.label for r in results] == ["positive", "negative", "neutral"]
    assert results[0].score > 0.5 > -0.5 > results[1].score
    assert results[0].aspects == {"quality": pytest.approx(results[0].score, abs=0.5)}


def test_fine_tuned_on_ratings_predicts_saves_and_loads(tmp_path):
    texts, ratings = zip(*REVIEWS, strict=True)
    config = sentiment_training_config(max_epochs=3, val_fraction=0.25)
    assert config.class_weighted
    assert config.familiarity_quantile == 0.0
    assert config.freeze_layers == 0  # freezing cost sentiment accuracy (bench/README.md)
    assert config.polar_labels == ("negative", "positive")
    model = train_sentiment_classifier(list(texts), list(ratings), config)

    assert set(model.classifier.labels) == set(LABELS)
    results = model.predict(["Wonderful, I love it!", "Broke after a day, awful."])
    assert results[0].score > results[1].score
    for result in results:
        assert result.label in LABELS
        assert -1.0 <= result.score <= 1.0
    report = model.evaluate(list(texts), [rating_label(r) for r in ratings])
    assert report["accuracy"] >= 0.75

    directory = model.save(tmp_path / "v1")
    loaded = FineTunedSentiment.load(directory, device="cpu")
    again = loaded.predict(["Wonderful, I love it!", "Broke after a day, awful."])
    np.testing.assert_allclose([r.score for r in again], [r.score for r in results], atol=1e-4)

    # Served with int8 Linear layers: a different module, nearly the same scores.
    int8 = FineTunedSentiment.load(directory, device="cpu", int8=True)
    assert int8.name == "minilm-sentiment-int8"

    def quantized_layers(network):
        return sum("quantized" in type(m).__module__ for m in network.modules())

    assert quantized_layers(int8.classifier.network) >= 37  # 6 layers x 6 Linear + the head
    assert quantized_layers(model.classifier.network) == 0
    served = int8.predict(["Wonderful, I love it!", "Broke after a day, awful."])
    np.testing.assert_allclose([r.score for r in served], [r.score for r in results], atol=0.15)


def test_training_needs_every_label():
    with pytest.raises(ValueError, match="no reviews labelled neutral"):
        train_sentiment_classifier(["good", "bad"], [5, 1], IntentTrainingConfig(max_epochs=1))


def test_int8_keeps_a_familiarity_gate_and_the_polar_measure():
    texts, ratings = zip(*REVIEWS, strict=True)
    # A gate is off for sentiment by default; one turned on must survive quantizing.
    config = sentiment_training_config(fine_tune=False, val_fraction=0.25, familiarity_quantile=0.1)
    model = train_sentiment_classifier(list(texts), list(ratings), config)
    assert model.classifier.familiarity_threshold is not None

    int8 = model.quantized().classifier
    assert int8.familiarity_threshold == model.classifier.familiarity_threshold
    np.testing.assert_array_equal(int8.reference, model.classifier.reference)

    report = model.evaluate(["Broke after a day.", "Love it."], ["negative", "positive"])
    assert set(report) >= {"accuracy", "macro_f1", "polar_accuracy"}
    assert 0.0 <= report["polar_accuracy"] <= 1.0
