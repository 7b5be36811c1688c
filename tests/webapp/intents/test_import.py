"""Importing labelled utterances: line-numbered errors, duplicates and conflicting labels."""

from __future__ import annotations

import json

import pytest
from django.core.management import CommandError, call_command

from tests.factories import make_store
from webapp.intents.models import ExampleSource, ExampleSplit, IntentExample
from webapp.intents.selectors import intent_datasets
from webapp.intents.services import intent_examples_import

pytestmark = pytest.mark.django_db


@pytest.fixture
def store():
    return make_store(slug="acme")


def test_csv_reports_duplicates_conflicts_and_bad_rows_by_line(store, tmp_path):
    path = tmp_path / "intents.csv"
    path.write_text(
        "text,intent\n"
        "where is my parcel,order_status\n"  # line 2
        "Where is   my PARCEL,order_status\n"  # 3: same text after case/spacing
        "where is my parcel,delivery_time\n"  # 4: one text, two labels
        ",greeting\n"  # 5: no text
        "hello there,Not A Label!\n"  # 6: bad label
        "hello there,Greeting\n"  # 7: label normalised to greeting
        "bye,goodbye,extra\n"  # 8: column count
    )
    report = intent_examples_import(store=store, path=path)
    reasons = {error.line: error.reason for error in report.errors}
    assert reasons[3] == "duplicate of line 2"
    assert reasons[4] == "line 2 labels the same text 'order_status', this row 'delivery_time'"
    assert reasons[5] == "text is required"
    assert "not a valid label" in reasons[6]
    assert "expected 2 columns" in reasons[8]
    assert report.created == 2
    assert dict(IntentExample.objects.values_list("text", "intent")) == {
        "where is my parcel": "order_status",
        "hello there": "greeting",
    }


def test_reimport_is_idempotent_and_relabels(store, tmp_path):
    path = tmp_path / "a.jsonl"
    path.write_text(json.dumps({"text": "refund?", "intent": "refund_status"}) + "\n")
    assert intent_examples_import(store=store, path=path).created == 1
    assert intent_examples_import(store=store, path=path).unchanged == 1
    path.write_text(json.dumps({"text": "Refund?", "intent": "return_item"}) + "\n")
    report = intent_examples_import(store=store, path=path)
    assert report.updated == 1
    assert IntentExample.objects.get().intent == "return_item"


def test_column_map_and_heldout_flag_through_the_command(store, tmp_path, capsys):
    path = tmp_path / "export.csv"
    path.write_text("utterance,label\nhi,greeting\nthanks a lot,thanks\n")
    call_command(
        "import_intents",
        str(path),
        "--store",
        "acme",
        "--map",
        "text=utterance",
        "--map",
        "intent=label",
        "--heldout",
    )
    assert "created 2" in capsys.readouterr().out
    assert set(IntentExample.objects.values_list("split", "source")) == {
        (ExampleSplit.HELDOUT, ExampleSource.IMPORT)
    }
    with pytest.raises(CommandError, match="Unknown store"):
        call_command("import_intents", str(path), "--store", "nope")


def test_explicit_heldout_set_is_kept_apart(store, tmp_path):
    train = tmp_path / "train.csv"
    train.write_text("text,intent\nhi,greeting\nhello,greeting\nbye,goodbye\nsee ya,goodbye\n")
    held = tmp_path / "held.csv"
    held.write_text("text,intent\nhey there,greeting\nlater,goodbye\n")
    intent_examples_import(store=store, path=train)
    intent_examples_import(store=store, path=held, split=ExampleSplit.HELDOUT)
    data = intent_datasets(store_id=store.id)
    assert data.heldout_source == "explicit"
    assert sorted(data.heldout_texts) == ["hey there", "later"]
    assert not set(data.heldout_texts) & set(data.train_texts)


def test_without_heldout_examples_a_stable_hash_share_is_held_out(store, tmp_path, settings):
    settings.INTENT_HELDOUT_PERCENT = 30
    path = tmp_path / "many.csv"
    rows = [f"question number {i},intent_{i % 3}" for i in range(60)]
    path.write_text("text,intent\n" + "\n".join(rows) + "\n")
    intent_examples_import(store=store, path=path)
    first = intent_datasets(store_id=store.id)
    again = intent_datasets(store_id=store.id)
    assert first.heldout_source == "hash"
    assert first.heldout_texts == again.heldout_texts
    assert 5 <= len(first.heldout_texts) <= 35
    assert not set(first.heldout_texts) & set(first.train_texts)
