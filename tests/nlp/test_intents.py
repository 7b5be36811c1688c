import json

import numpy as np
import pytest

from nlp.intents import (
    IntentClassifier,
    IntentPrediction,
    IntentTrainingConfig,
    choose_threshold,
    fit_temperature,
    nll,
    stratified_split,
    train_intent_classifier,
)
from tests.nlp.intent_data import TINY_LABELS, TINY_TEXTS

QUERIES = ["where's my parcel?", "hello!", "I need to speak to a person", "refund this please"]


@pytest.fixture(scope="module")
def trained():
    events = []
    config = IntentTrainingConfig(max_epochs=2, val_fraction=0.25, progress_every=1)
    model = train_intent_classifier(TINY_TEXTS, TINY_LABELS, config, progress=events.append)
    return model, events


def test_training_reports_progress_and_metrics(trained):
    model, events = trained
    report = model.report

    assert model.labels == ("greeting", "human_agent", "order_status", "return_item")
    assert report.train_examples == 24
    assert report.validation_examples == 8
    assert report.epochs_run == 2
    assert report.stopped_by == "max_epochs"
    assert [e.kind for e in events].count("epoch") == 2
    steps = [e for e in events if e.kind == "step"]
    assert steps[-1].step == steps[-1].total_steps == 4
    assert all(e.eta_s >= 0 for e in events)
    assert report.validation["accuracy"] >= 0.75
    assert 0.2 <= model.threshold <= 0.9


def test_calibration_does_not_raise_nll_on_the_fitted_split(trained):
    report = trained[0].report
    assert report.nll_after <= report.nll_before + 1e-6
    assert report.temperature > 0


def test_predict(trained):
    model = trained[0]
    predictions = model.predict(QUERIES)

    assert [p.label for p in predictions] == [
        "order_status",
        "greeting",
        "human_agent",
        "return_item",
    ]
    for prediction in predictions:
        assert isinstance(prediction, IntentPrediction)
        assert len(prediction.top) == 3
        assert prediction.top[0] == (prediction.label, pytest.approx(prediction.confidence))
        assert [p for _, p in prediction.top] == sorted(
            (p for _, p in prediction.top), reverse=True
        )
        assert -1.0 <= prediction.familiarity <= 1.0
        expected = (
            prediction.label
            if prediction.confidence >= model.threshold
            and prediction.familiarity >= model.familiarity_threshold
            else None
        )
        assert prediction.intent == expected
    probs = model.predict_proba(QUERIES)
    assert probs.shape == (4, 4)
    assert probs.dtype == np.float32
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-5)
    # Batching and length sorting do not change the answers.
    np.testing.assert_allclose(model.predict_proba(QUERIES, batch_size=1), probs, atol=1e-5)
    assert model.predict([]) == []


def test_declines_below_threshold(trained):
    strict = trained[0].with_threshold(0.9999999)
    prediction = strict.predict(["banana bread recipe"])[0]

    assert prediction.confidence < 0.9999999
    assert prediction.intent is None
    assert prediction.label in strict.labels
    report = strict.evaluate(["banana bread recipe"], ["greeting"])
    assert report["coverage"] == 0.0


def test_familiarity_gate_declines_what_is_unlike_the_training_examples(trained):
    model = trained[0]
    report = model.report
    # Chosen on validation: about familiarity_quantile (2%) of the validation messages fall
    # under it, which with 8 of them means the least familiar one at most.
    assert report.familiarity_threshold == pytest.approx(model.familiarity_threshold, abs=1e-4)
    assert report.validation["coverage"] >= 7 / 8 - 1e-9 or model.threshold > 0.2
    assert model.reference.shape == (24, 384)  # every training example (< 64 per intent)

    # A training text is its own nearest example; nonsense is far from all of them.
    seen = TINY_TEXTS[stratified_split(TINY_LABELS, 0.25, 13)[0][0]]
    own, nonsense = model.predict([seen, "zxqv 77 ##"])
    assert own.familiarity == pytest.approx(1.0, abs=1e-3)
    assert nonsense.familiarity < own.familiarity

    # The gate alone decides when the confidence threshold accepts everything.
    open_gate = model.with_threshold(0.0, familiarity=-1.0)
    shut_gate = model.with_threshold(0.0, familiarity=1.01)
    assert open_gate.declined_share(QUERIES) == 0.0
    assert shut_gate.declined_share(QUERIES) == 1.0
    assert all(p.intent is None for p in shut_gate.predict(QUERIES))
    assert shut_gate.evaluate(QUERIES, ["order_status"] * 4)["coverage"] == 0.0
    between = model.with_threshold(0.0, familiarity=float(nonsense.familiarity) + 1e-3)
    assert [p.intent is None for p in between.predict([seen, "zxqv 77 ##"])] == [False, True]


def test_gate_can_be_turned_off():
    config = IntentTrainingConfig(max_epochs=1, val_fraction=0.25, familiarity_quantile=0.0)
    model = train_intent_classifier(TINY_TEXTS, TINY_LABELS, config)

    assert model.familiarity_threshold is None
    assert model.reference is None
    assert model.predict(["zxqv 77 ##"])[0].familiarity is None


def test_evaluate(trained):
    model = trained[0]
    report = model.evaluate(QUERIES, ["order_status", "greeting", "human_agent", "return_item"])

    assert report["without_threshold"]["accuracy"] == 1.0
    assert 0 <= report["coverage"] <= 1
    assert report["threshold"] == pytest.approx(model.threshold, abs=1e-4)
    json.dumps(report)


def test_save_load_round_trip(trained, tmp_path):
    model = trained[0]
    target = tmp_path / "intent-v1"
    model.save(target)

    meta = json.loads((target / "meta.json").read_text())
    assert meta["format_version"] == 1
    assert meta["labels"] == list(model.labels)
    assert meta["examples"] == 32
    assert meta["training_config"]["max_epochs"] == 2
    assert (target / "model.safetensors").exists()
    assert not [p for p in tmp_path.iterdir() if "staging" in p.name]

    loaded = IntentClassifier.load(target, device="cpu")
    assert loaded.labels == model.labels
    assert loaded.threshold == model.threshold
    assert loaded.temperature == model.temperature
    assert loaded.familiarity_threshold == model.familiarity_threshold
    assert (target / "reference.safetensors").exists()
    np.testing.assert_allclose(loaded.reference, model.reference, atol=1e-3)  # stored as fp16
    assert [p.intent for p in loaded.predict(QUERIES)] == [p.intent for p in model.predict(QUERIES)]
    np.testing.assert_allclose(
        loaded.predict_proba(QUERIES), model.predict_proba(QUERIES), atol=1e-6
    )
    with pytest.raises(FileExistsError, match="not empty"):
        model.save(target)  # versions are immutable: a non-empty folder is never overwritten


def test_time_budget_stops_training():
    config = IntentTrainingConfig(max_epochs=50, max_seconds=0.0, val_fraction=0.25)
    model = train_intent_classifier(TINY_TEXTS, TINY_LABELS, config)

    assert model.report.stopped_by == "time_budget"
    assert model.report.steps == 1
    assert model.report.epochs_run == 1


def test_fit_temperature_softens_overconfident_logits():
    rng = np.random.default_rng(0)
    targets = rng.integers(0, 3, 300)
    logits = rng.normal(size=(300, 3))
    logits[np.arange(300), targets] += 1.0
    overconfident = logits * 8
    temperature = fit_temperature(overconfident, targets)

    assert temperature > 2
    assert nll(overconfident, targets, temperature) < nll(overconfident, targets)


def test_choose_threshold_is_lowest_meeting_precision():
    confidence = np.array([0.95, 0.9, 0.8, 0.7, 0.6, 0.5])
    correct = np.array([True, True, True, True, False, False])
    # precision of the accepted: 1, 1, 1, 1, 0.8, 0.67 -> lowest cut with >= 0.9 is 0.7
    assert choose_threshold(confidence, correct, 0.9, 0.2, 0.9) == pytest.approx(0.7)
    assert choose_threshold(confidence, correct, 0.75, 0.2, 0.9) == pytest.approx(0.6)
    assert choose_threshold(confidence, np.ones(6, bool), 0.9, 0.2, 0.9) == 0.2  # floor
    assert choose_threshold(confidence, np.zeros(6, bool), 0.9, 0.2, 0.9) == 0.9  # ceiling


def test_stratified_split_is_deterministic_and_keeps_every_label():
    labels = ["a"] * 10 + ["b"] * 4 + ["c"]
    train, val = stratified_split(labels, 0.2, seed=1)

    assert (train, val) == stratified_split(labels, 0.2, seed=1)
    assert sorted(train + val) == list(range(15))
    assert [labels[i] for i in val] == ["a", "a", "b"]
    assert {labels[i] for i in train} == {"a", "b", "c"}


def test_fit_temperature_keeps_one_without_validation_errors():
    logits = np.array([[5.0, 0.0], [0.0, 4.0], [3.0, 1.0]])
    assert fit_temperature(logits, np.array([0, 1, 0])) == 1.0


def test_macro_f1_over_the_evaluation_sets_labels_ignores_an_intent_it_never_contains():
    from nlp.intents import _evaluation

    model_labels = ["a", "b", "new"]
    # Three messages, all right; the model also knows "new", which the set never contains.
    probs = np.array([[0.9, 0.05, 0.05], [0.1, 0.8, 0.1], [0.7, 0.2, 0.1]])
    truth = ["a", "b", "a"]
    own = _evaluation(probs, truth, model_labels, threshold=0.2)
    fair = _evaluation(probs, truth, model_labels, threshold=0.2, report_labels=["a", "b"])
    assert own["without_threshold"]["macro_f1"] < 1.0  # "new" adds an F1 of 0 to the mean
    assert fair["without_threshold"]["macro_f1"] == 1.0
    assert fair["without_threshold"]["accuracy"] == own["without_threshold"]["accuracy"] == 1.0

    # A wrong prediction into the unseen intent still costs: recall of "a" drops.
    probs[2] = [0.1, 0.1, 0.8]
    wrong = _evaluation(probs, truth, model_labels, threshold=0.2, report_labels=["a", "b"])
    assert wrong["without_threshold"]["accuracy"] < 1.0
    assert wrong["without_threshold"]["macro_f1"] < 1.0


def test_the_traced_serving_model_predicts_exactly_what_the_eager_one_does(trained, tmp_path):
    from nlp.intents import IntentClassifier

    model, _ = trained
    texts = [*TINY_TEXTS, "zxqv plomb", "where is my parcel, it is late and I am not happy " * 4]
    eager = IntentClassifier.load(model.save(tmp_path / "model"))
    served = IntentClassifier.load(tmp_path / "model").for_serving()
    import torch

    assert isinstance(served._traced, torch.jit.ScriptModule)  # not the eager fallback
    assert served.predict(texts) == eager.predict(texts)
    np.testing.assert_allclose(
        served.predict_proba(texts), eager.predict_proba(texts), rtol=0, atol=1e-5
    )
    assert served.with_threshold(0.99)._traced is served._traced


def test_the_out_of_scope_bank_declines_what_is_nearer_it_than_the_store(trained, tmp_path):
    from safetensors.torch import load_file, save_file

    from nlp.out_of_scope_bank import OUT_OF_SCOPE_BANK

    model = trained[0]
    assert model.out_of_scope.shape == (len(OUT_OF_SCOPE_BANK), 384)
    assert model.out_of_scope_margin is not None
    line = OUT_OF_SCOPE_BANK[0]  # nearer its own line than to anything the store trained on
    open_familiarity = model.with_threshold(0.0, familiarity=-1.0)
    assert open_familiarity.predict([line])[0].intent is None
    assert (
        model.with_threshold(0.0, familiarity=-1.0, out_of_scope_margin=2.0).declined_share(
            [line, *QUERIES]
        )
        == 0.0
    )
    shut = model.with_threshold(0.0, familiarity=-1.0, out_of_scope_margin=-2.0)
    assert shut.declined_share(QUERIES) == 1.0

    model.save(tmp_path / "m")
    loaded = IntentClassifier.load(tmp_path / "m", device="cpu")
    np.testing.assert_allclose(loaded.out_of_scope, model.out_of_scope, atol=1e-3)  # fp16
    assert loaded.out_of_scope_margin == model.out_of_scope_margin
    assert [p.intent for p in loaded.predict([line, *QUERIES])] == [
        p.intent for p in model.predict([line, *QUERIES])
    ]
    # A model saved before the bank existed has no such key: it loads, with its other gates.
    gate_file = tmp_path / "m" / "reference.safetensors"
    save_file({"reference": load_file(str(gate_file))["reference"]}, str(gate_file))
    older = IntentClassifier.load(tmp_path / "m", device="cpu")
    assert older.out_of_scope is None
    assert older.out_of_scope_margin is None
    assert older.familiarity_threshold == model.familiarity_threshold
    assert older.with_threshold(0.0, familiarity=-1.0).predict([line])[0].intent is not None


def test_the_gates_decline_at_most_the_budget_of_right_answers_on_validation():
    from nlp.intents import Gates, _choose_gates

    rng = np.random.default_rng(3)
    n = 1000
    correct = rng.random(n) < 0.9
    familiarity, gap = rng.random(n), rng.normal(size=n)
    config = IntentTrainingConfig(
        decline_budget=0.01, familiarity_quantile=0.004, out_of_scope_quantile=0.004
    )

    def right_declined(confidence, fam, margin, threshold):
        passed = (confidence >= threshold) & (familiarity >= fam) & (gap <= margin)
        return int((correct & ~passed).sum())

    # A precision threshold that would decline many right answers gives way to the budget.
    confidence = rng.random(n)
    gates = Gates(familiarity, gap)
    fam, margin, threshold = _choose_gates(gates, confidence, correct, 0.9, config)
    assert right_declined(confidence, fam, margin, threshold) <= 10
    assert threshold < 0.9
    assert int((correct & (familiarity < fam)).sum()) <= 4
    assert int((correct & (gap > margin)).sum()) <= 4

    # One that declines fewer than the budget has left stays where precision put it.
    confident = 0.5 + 0.5 * rng.random(n)
    _, _, kept = _choose_gates(gates, confident, correct, 0.3, config)
    assert kept == 0.3


def test_length_buckets_cover_every_example_once_in_batches_of_similar_length():
    from nlp.intents import _training_batches

    rng = np.random.default_rng(0)
    lengths = rng.integers(3, 60, size=200)
    order = rng.permutation(200)
    config = IntentTrainingConfig(batch_size=16, length_buckets=5)

    batches = _training_batches(order, lengths, config, np.random.default_rng(1))

    assert sorted(int(i) for b in batches for i in b) == list(range(200))
    assert all(len(b) <= 16 for b in batches)
    plain = _training_batches(order, lengths, IntentTrainingConfig(length_buckets=1), None)
    padded = sum(len(b) * lengths[b].max() for b in batches)
    assert padded < sum(len(b) * lengths[b].max() for b in plain)


def test_lower_layers_freeze_for_the_first_epochs_then_train():
    from nlp.intents import _freeze_lower_layers

    config = IntentTrainingConfig(
        max_epochs=2, val_fraction=0.25, freeze_layers=3, freeze_epochs=1, length_buckets=4
    )
    model = train_intent_classifier(TINY_TEXTS, TINY_LABELS, config)
    assert model.report.epochs_run == 2

    network = model.network
    _freeze_lower_layers(network, 3)
    encoder = network.encoder
    assert not any(p.requires_grad for p in encoder.embeddings.parameters())
    assert not any(p.requires_grad for p in encoder.encoder.layer[2].parameters())
    assert all(p.requires_grad for p in encoder.encoder.layer[3].parameters())
    _freeze_lower_layers(network, 0)
    assert all(p.requires_grad for p in encoder.parameters())


def test_max_length_grows_to_long_training_texts_up_to_the_ceiling():
    from transformers import AutoTokenizer

    from nlp.intents import _max_length
    from retrieval.embedding import base_model_path

    tokenizer = AutoTokenizer.from_pretrained(str(base_model_path()), local_files_only=True)
    short = ["where is my parcel"] * 50
    long = [" ".join(["the kettle leaks"] * 30)] * 50  # ~92 tokens each

    assert _max_length(tokenizer, long, IntentTrainingConfig()) == 64  # no ceiling: fixed
    assert _max_length(tokenizer, short, IntentTrainingConfig(max_length_ceiling=256)) == 64
    grown = _max_length(tokenizer, long, IntentTrainingConfig(max_length_ceiling=256))
    assert grown % 8 == 0
    assert 92 <= grown < 100
    assert _max_length(tokenizer, long, IntentTrainingConfig(max_length_ceiling=80)) == 80
