import json

import pytest

from nlp.metrics import classification_report


def test_hand_counted_report():
    y_true = ["a", "a", "a", "b", "b", "c"]
    y_pred = ["a", "a", "b", "b", "c", "c"]
    report = classification_report(y_true, y_pred, ["a", "b", "c"])

    assert report["accuracy"] == pytest.approx(4 / 6, abs=1e-4)
    # a: P 2/2 R 2/3 F1 0.8; b: P 1/2 R 1/2 F1 0.5; c: P 1/2 R 1/1 F1 2/3
    assert report["per_label"]["a"] == {"precision": 1.0, "recall": 0.6667, "f1": 0.8, "support": 3}
    assert report["per_label"]["b"] == {"precision": 0.5, "recall": 0.5, "f1": 0.5, "support": 2}
    assert report["per_label"]["c"]["f1"] == pytest.approx(0.6667)
    assert report["macro_f1"] == pytest.approx((0.8 + 0.5 + 2 / 3) / 3, abs=1e-4)
    assert report["confusions"] == [["a", "b", 1], ["b", "c", 1]]
    assert "coverage" not in report
    json.dumps(report)


def test_declined_predictions_count_as_wrong_but_not_as_false_positives():
    report = classification_report(["a", "a", "b", "b"], ["a", None, "b", None], ["a", "b"])

    assert report["accuracy"] == 0.5
    assert report["coverage"] == 0.5
    assert report["per_label"]["a"]["precision"] == 1.0
    assert report["per_label"]["a"]["recall"] == 0.5
    assert report["confusions"] == [["a", None, 1], ["b", None, 1]]


def test_confusions_are_sorted_by_count_and_capped():
    y_true = ["x"] * 3 + [f"t{i}" for i in range(30)]
    y_pred = ["y"] * 3 + [f"p{i}" for i in range(30)]
    report = classification_report(y_true, y_pred, ["x", "y"])

    assert report["confusions"][0] == ["x", "y", 3]
    assert len(report["confusions"]) == 20
    assert report["per_label"]["y"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 0}


def test_length_mismatch_is_an_error():
    with pytest.raises(ValueError, match="predictions"):
        classification_report(["a"], [], ["a"])
