"""The floor: a linear head on frozen embeddings, the candidate fine-tuning must beat."""

import json

import numpy as np
import pytest

from nlp.floor import (
    choose_linear_head,
    class_weights,
    fit_linear_head,
    polar_accuracy,
    selection_score,
)
from nlp.intents import IntentClassifier, IntentTrainingConfig, train_intent_classifier
from tests.nlp.intent_data import TINY_LABELS, TINY_TEXTS


def _clusters(n_per: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(3, 16))
    x = np.concatenate([c + 0.3 * rng.normal(size=(n_per, 16)) for c in centres])
    y = np.repeat(np.arange(3), n_per)
    return x.astype(np.float32), y


def test_linear_head_separates_separable_classes():
    x, y = _clusters(40)
    head = fit_linear_head(x, y, 3, c=10.0)

    assert head.weight.shape == (3, 16)
    assert head.bias.shape == (3,)
    assert (head.logits(x).argmax(axis=1) == y).all()
    assert head.iterations > 1


def test_stronger_regularisation_gives_smaller_weights():
    x, y = _clusters(40)
    loose = fit_linear_head(x, y, 3, c=100.0)
    tight = fit_linear_head(x, y, 3, c=0.01)

    assert np.linalg.norm(tight.weight) < np.linalg.norm(loose.weight) / 5


def test_class_weights_favour_the_rare_class_and_keep_the_loss_scale():
    targets = np.array([0] * 90 + [1] * 10)

    inverse = class_weights(targets, 2, 1.0)
    root = class_weights(targets, 2, 0.5)
    none = class_weights(targets, 2, 0.0)

    assert inverse[1] / inverse[0] == pytest.approx(9.0)
    assert root[1] / root[0] == pytest.approx(3.0)
    assert none[0] == none[1] == pytest.approx(1.0)
    for weights in (inverse, root, none):
        assert weights[targets].mean() == pytest.approx(1.0)


def test_polar_accuracy_counts_neutral_as_wrong_for_praise_and_complaints():
    truth = ["negative", "negative", "positive", "neutral"]
    predicted = ["negative", "neutral", "positive", "negative"]

    polar = ("negative", "positive")
    assert polar_accuracy(truth, predicted, polar) == pytest.approx(2 / 3, abs=1e-4)
    assert polar_accuracy(["neutral"], ["neutral"], ("negative", "positive")) == 0.0


def test_selection_score_is_macro_f1_or_its_mean_with_polar_accuracy():
    truth = ["a", "a", "b", "c"]
    predicted = ["a", "b", "b", "c"]
    macro_f1 = (2 / 3 + 2 / 3 + 1.0) / 3

    assert selection_score(truth, predicted, ["a", "b", "c"]) == pytest.approx(macro_f1, abs=1e-4)
    with_polar = selection_score(truth, predicted, ["a", "b", "c"], ["a", "c"])
    assert with_polar == pytest.approx((macro_f1 + 2 / 3) / 2, abs=1e-4)


def test_choose_linear_head_tries_the_grid_and_keeps_the_best_on_validation():
    x, y = _clusters(40)
    x_val, y_val = _clusters(10, seed=1)

    choice = choose_linear_head(
        x, y, x_val, y_val, 3, c_grid=(0.001, 1.0, 100.0), class_weight_powers=(0.0, 1.0)
    )

    assert [(c, power) for c, power, _ in choice.tried] == [
        (0.001, 0.0), (1.0, 0.0), (100.0, 0.0), (0.001, 1.0), (1.0, 1.0), (100.0, 1.0),
    ]  # fmt: skip
    assert choice.val_score == max(score for _, _, score in choice.tried)
    assert choice.val_logits.shape == (30, 3)


def test_the_floor_alone_is_a_complete_servable_model(tmp_path):
    from transformers import AutoModel

    from retrieval.embedding import base_model_path

    config = IntentTrainingConfig(fine_tune=False, val_fraction=0.25)
    model = train_intent_classifier(TINY_TEXTS, TINY_LABELS, config)

    report = model.report
    assert report.chosen == "floor"
    assert report.stopped_by == "floor_only"
    assert report.epochs_run == 0
    assert report.selection["reason"] == "fine-tuning turned off: the floor is the model"
    assert report.selection["floor"]["c"] in config.floor_c_grid
    assert model.meta["encoder_frozen"] is True
    assert model.reference is not None  # the familiarity gate comes with it
    assert 0.2 <= model.threshold <= 0.9
    assert model.predict(["where is my parcel"])[0].label == "order_status"
    base = AutoModel.from_pretrained(str(base_model_path()), local_files_only=True)
    ours = dict(model.network.encoder.named_parameters())
    for name, parameter in base.named_parameters():
        assert bool((ours[name].detach() == parameter.detach()).all()), name

    # The retrieval encoder's embedding of a message gives the same prediction, no pass.
    from retrieval.embedding import shared_encoder

    assert model.shares_base_encoder
    queries = ["where is my parcel", "hi", "refund this please", "zxqv 77 ##"]
    from_vectors = model.predict_vectors(shared_encoder().encode(queries), queries)
    from_texts = model.predict(queries)
    assert [p.intent for p in from_vectors] == [p.intent for p in from_texts]
    for mine, theirs in zip(from_vectors, from_texts, strict=True):
        assert mine.confidence == pytest.approx(theirs.confidence, abs=1e-3)
        assert mine.familiarity == pytest.approx(theirs.familiarity, abs=1e-3)

    model.save(tmp_path / "floor")
    meta = json.loads((tmp_path / "floor" / "meta.json").read_text())
    assert meta["training"]["chosen"] == "floor"
    loaded = IntentClassifier.load(tmp_path / "floor", device="cpu")
    np.testing.assert_allclose(
        loaded.predict_proba(TINY_TEXTS[:5]), model.predict_proba(TINY_TEXTS[:5]), atol=1e-6
    )


def test_the_floor_is_kept_when_fine_tuning_loses_to_it():
    # A learning rate this high wrecks the encoder in a step: no epoch can beat the floor.
    config = IntentTrainingConfig(
        max_epochs=2, val_fraction=0.25, learning_rate=0.5, head_learning_rate=0.5
    )
    model = train_intent_classifier(TINY_TEXTS, TINY_LABELS, config)

    report = model.report
    assert report.chosen == "floor"
    assert report.best_epoch == 0
    assert report.epochs_run >= 1
    selection = report.selection
    assert selection["fine_tuned"]["val_score"] < selection["floor"]["val_score"]
    assert selection["reason"].startswith("fine-tuning never beat the floor on validation")
    assert model.meta["encoder_frozen"] is True
    assert model.floor is None  # the model is its floor
    assert model.predict(["i want to return this"])[0].label == "return_item"


def test_the_record_says_which_candidate_won_and_matches_the_scores():
    config = IntentTrainingConfig(max_epochs=2, val_fraction=0.25)
    model = train_intent_classifier(TINY_TEXTS, TINY_LABELS, config)

    selection = model.report.selection
    floor = (selection["floor"]["val_score"], -selection["floor"]["val_nll"])
    tuned = (selection["fine_tuned"]["val_score"], -selection["fine_tuned"]["val_nll"])
    assert selection["chosen"] == model.report.chosen
    assert selection["chosen"] == ("fine_tuned" if tuned > floor else "floor")
    assert model.meta["encoder_frozen"] is (selection["chosen"] == "floor")
    assert model.shares_base_encoder is (selection["chosen"] == "floor")
    if not model.shares_base_encoder:
        with pytest.raises(ValueError, match="fine-tuned its encoder"):
            model.predict_vectors(np.zeros((1, 384), dtype=np.float32))
    if selection["chosen"] == "fine_tuned":
        assert model.floor is not None
        assert model.floor.report.chosen == "floor"
        assert model.floor.meta["encoder_frozen"] is True
