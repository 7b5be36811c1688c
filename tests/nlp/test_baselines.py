import numpy as np

from nlp.baselines import TfidfLogRegIntentBaseline
from tests.nlp.intent_data import TINY_LABELS, TINY_TEXTS


def test_fit_predict():
    baseline = TfidfLogRegIntentBaseline(c_grid=(1.0, 10.0)).fit(TINY_TEXTS, TINY_LABELS)

    assert baseline.chosen_c in (1.0, 10.0)
    assert set(baseline.validation_macro_f1) == {1.0, 10.0}
    assert baseline.predict(["where is my package", "hello there"]) == ["order_status", "greeting"]
    probs = baseline.predict_proba(["refund please"])
    assert probs.shape == (1, 4)
    assert probs.dtype == np.float32
    assert np.isclose(probs.sum(), 1.0, atol=1e-5)
