"""train_intents / predict_intents on a tiny store: versions, the promotion rule, JSONL output."""

from __future__ import annotations

import json
import random

import pytest
from django.core.management import call_command

from tests.factories import make_store
from tests.nlp.intent_data import TINY
from webapp.intents.models import ExampleSplit, IntentExample, text_key
from webapp.intents.selectors import intent_classifier_live
from webapp.mlops.models import ModelKind, ModelVersion

pytestmark = pytest.mark.django_db

HELDOUT = {
    "order_status": ["where's my package", "did my order ship yet"],
    "return_item": ["i'd like to send this back", "return please"],
    "greeting": ["hiya", "morning!"],
    "human_agent": ["a person please", "put me through to someone"],
}


def _load(store, examples, split=ExampleSplit.TRAIN):
    IntentExample.objects.bulk_create(
        IntentExample(store=store, text=t, text_key=text_key(t), intent=label, split=split)
        for label, texts in examples.items()
        for t in texts
    )


def _train(capsys, *args):
    call_command("train_intents", "--store", "acme", "--max-epochs", "3", *args)
    out, err = capsys.readouterr()
    return json.loads(out.strip().splitlines()[-1]), err


def test_train_registers_a_live_version_then_only_promotes_a_model_no_worse(capsys):
    store = make_store(slug="acme")
    _load(store, TINY)
    _load(store, HELDOUT, ExampleSplit.HELDOUT)

    first, err = _train(capsys)
    assert first["version"] == 1
    assert first["promoted"] is True
    assert set(first["metrics"]) >= {"accuracy", "macro_f1", "per_label", "confusions"}
    assert first["metrics"]["without_threshold"]["accuracy"] >= 0.75
    assert "epoch 1/3" in err  # progress is shown while training
    live = ModelVersion.objects.get(store=store, kind=ModelKind.INTENT, state="live")
    assert live.version == 1
    assert (live.path / "meta.json").is_file()
    assert live.heldout_examples == 8

    # Scramble the training labels: the candidate is worse on the same held-out texts, so the
    # live model stays.
    rng = random.Random(3)
    labels = list(TINY)
    for example in IntentExample.objects.filter(split=ExampleSplit.TRAIN):
        example.intent = rng.choice([label for label in labels if label != example.intent])
        example.save(update_fields=["intent"])
    second, _ = _train(capsys)
    assert second["version"] == 2
    assert second["promoted"] is False
    candidate = ModelVersion.objects.get(version=2)
    assert candidate.promotion["live"] > candidate.promotion["candidate"]
    assert ModelVersion.objects.get(state="live").version == 1


def test_predict_intents_writes_jsonl_from_text_or_csv(tmp_path, capsys):
    store = make_store(slug="acme")
    _load(store, TINY)
    _load(store, HELDOUT, ExampleSplit.HELDOUT)
    _train(capsys)
    classifier = intent_classifier_live(store_id=store.id)

    lines = tmp_path / "in.txt"
    lines.write_text("where is my parcel\n\nhello there\nqwertyuiop zxcv\n")
    out = tmp_path / "out.jsonl"
    call_command("predict_intents", "--store", "acme", "--input", str(lines), "--output", str(out))
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [row["text"] for row in rows] == ["where is my parcel", "hello there", "qwertyuiop zxcv"]
    assert rows[0]["top"][0][0] == "order_status"
    assert rows[1]["top"][0][0] == "greeting"
    for row in rows:
        assert set(row) == {"text", "intent", "confidence", "top"}
        # intent is the top label exactly when the model stands by it: confident enough, and
        # familiar enough (the nearest training example close enough).
        (prediction,) = classifier.predict([row["text"]])
        accepted = (
            row["confidence"] >= classifier.threshold
            and prediction.familiarity >= classifier.familiarity_threshold
        )
        assert row["intent"] == (row["top"][0][0] if accepted else None)

    csv_in = tmp_path / "in.csv"
    csv_in.write_text('id,text\n1,"track my order, please"\n')
    call_command("predict_intents", "--store", "acme", "--input", str(csv_in))
    printed = json.loads(capsys.readouterr().out.strip())
    assert printed["text"] == "track my order, please"


def test_predict_without_a_model_and_training_without_data_fail_clearly(tmp_path):
    from django.core.management import CommandError

    make_store(slug="acme")
    path = tmp_path / "in.txt"
    path.write_text("hi\n")
    with pytest.raises(CommandError, match="no live intent model"):
        call_command("predict_intents", "--store", "acme", "--input", str(path))
    with pytest.raises(CommandError, match="at least two intents"):
        call_command("train_intents", "--store", "acme")
