"""train_sentiment / classify_sentiment on the demo store's reviews."""

from __future__ import annotations

import json

import pytest
from django.core.management import CommandError, call_command

from tests.factories import make_store
from webapp.demo.services import demo_load
from webapp.mlops.models import ModelKind, ModelVersion
from webapp.reviews.selectors import sentiment_datasets
from webapp.stores.models import Store

pytestmark = pytest.mark.django_db


def test_too_few_reviews_is_a_clear_error():
    make_store(slug="tiny")
    with pytest.raises(CommandError, match="training starts at 200"):
        call_command("train_sentiment", "--store", "tiny")


def test_train_then_classify_with_the_live_model(tmp_path, capsys):
    demo_load()
    data = sentiment_datasets(store_id=Store.objects.get(slug="demo").id)
    assert len(data.heldout_texts) >= 100
    assert len(data.train_texts) >= 450

    lines = tmp_path / "in.txt"
    lines.write_text("Absolutely love it, wonderful quality\n\nBroke after a day. Awful.\n")
    call_command("classify_sentiment", "--store", "demo", "--input", str(lines))
    vader = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [row["label"] for row in vader] == ["positive", "negative"]

    call_command("train_sentiment", "--store", "demo", "--max-epochs", "1")
    out, err = capsys.readouterr()
    final = json.loads(out.strip().splitlines()[-1])
    assert set(final) == {"version", "metrics", "promoted"}
    assert final["version"] == 1
    version = ModelVersion.objects.get(kind=ModelKind.SENTIMENT)
    promotion = version.promotion
    assert promotion["live_name"] == "vader"
    no_worse = promotion["candidate"] >= promotion["live"] - promotion["tolerance"]
    # ... and never worse than VADER on either measure, with no tolerance.
    measures = promotion["candidate_measures"]
    assert set(measures) == {"macro_f1", "polar_accuracy"}
    assert set(promotion["baselines"]) == {"vader"}
    beats_vader = all(measures[m] >= v for m, v in promotion["baselines"]["vader"].items())
    assert final["promoted"] == (no_worse and beats_vader)
    assert final["metrics"]["kept"]["chosen"] in {"floor", "fine_tuned"}
    assert version.is_live == final["promoted"]
    assert version.evaluation_set.size == len(data.heldout_texts)  # frozen from the split
    assert "held-out accuracy" in err
    assert final["metrics"]["examples"] == len(data.heldout_texts)
    assert final["metrics"]["int8"] is True  # judged as the workers will serve it

    output = tmp_path / "out.jsonl"
    call_command(
        "classify_sentiment", "--store", "demo", "--input", str(lines), "--output", str(output)
    )
    rows = [json.loads(line) for line in output.read_text().splitlines()]
    assert [set(row) for row in rows] == [{"text", "label", "score"}] * 2
    assert rows[0]["score"] > rows[1]["score"]
    if final["promoted"]:
        assert "sentiment v1" in capsys.readouterr().err
