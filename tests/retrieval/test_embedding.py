"""The encoder traced for serving gives the vectors sentence-transformers gives."""

from __future__ import annotations

import numpy as np
import pytest

from retrieval.embedding import load_encoder


@pytest.mark.slow
def test_the_traced_encoder_matches_sentence_transformers():
    encoder = load_encoder(device="cpu")
    texts = [
        "how long does shipping take?",
        "x",
        "Do you have the blue linen shirt in size M, and can it arrive before Friday? " * 12,
        "  café crème — 20 % off?  ",
    ]
    reference = encoder.encode(texts)
    import torch

    assert isinstance(encoder.for_serving().traced, torch.jit.ScriptModule)
    traced = encoder.encode(texts, batch_size=2)
    assert traced.shape == (4, 384)
    assert traced.dtype == np.float32
    np.testing.assert_allclose(traced, reference, rtol=0, atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(traced, axis=1), 1.0, atol=1e-5)
