"""The bot's model calls in this process: batched across concurrent turns, threads sized.

Every turn's encode (retrieval) and intent prediction goes through one ``MicroBatcher``, so the
turns running at once share forward passes on one inference thread instead of each running its
own in parallel (see ``nlp.batching`` for the measured cost). ``CHAT_BATCHING=0`` runs each call
in the caller's thread, as before; ``bench.load`` compares the two.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from django.conf import settings

from nlp.batching import BatcherStats, MicroBatcher

if TYPE_CHECKING:
    import numpy as np

    from nlp.intents import IntentClassifier, IntentPrediction

logger = logging.getLogger(__name__)

_lock = threading.Lock()
_batcher: MicroBatcher | None = None
_threads_configured = False


def _shared_batcher() -> MicroBatcher:
    global _batcher
    if _batcher is None:
        with _lock:
            if _batcher is None:
                _batcher = MicroBatcher(
                    max_batch=settings.CHAT_BATCH_MAX_SIZE,
                    max_wait_s=settings.CHAT_BATCH_MAX_WAIT_MS / 1000,
                    name="chat-inference",
                )
    return _batcher


def _release_db_connection() -> None:
    """Give this thread's database connection back (to the pool) before waiting for a model.

    A turn holds its connection from its first query to its end; waiting for its forward pass
    with it, 16 turns held the pool's 16 connections while the rest of the process (saving new
    messages included) queued for one. Reconnecting from the pool costs well under a
    millisecond. Inside a transaction the connection stays: the transaction needs it.
    """
    from django.db import connection

    if not connection.in_atomic_block:
        connection.close()


def _sized(fn: Callable[[list[str]], Any]) -> Callable[[list[str]], Any]:
    """``fn`` run with torch threads sized to its batch: a lone message (an idle server) gets
    every core, a batch (a crowd, the cores busy with the rest of the server) gets
    ``INFERENCE_THREADS``. Only the inference thread runs torch, so the process-wide setting
    is this thread's to change."""

    def run(texts: list[str]) -> Any:
        import torch

        wanted = _IDLE_THREADS if len(texts) == 1 else settings.INFERENCE_THREADS
        if torch.get_num_threads() != wanted:
            torch.set_num_threads(wanted)
        return fn(texts)

    return run


_IDLE_THREADS = max(1, min(4, os.cpu_count() or 1))


def query_vector(text: str) -> np.ndarray:
    """The L2-normalised MiniLM embedding of ``text``, ``(384,)`` float32, for retrieval."""
    from retrieval.embedding import shared_encoder

    encoder = shared_encoder()
    _release_db_connection()
    if not settings.CHAT_BATCHING:
        return encoder.encode([text])[0]
    return _shared_batcher().call(_sized(encoder.encode), text, key=encoder.encode)


def intent_predict(
    classifier: IntentClassifier,
    text: str,
    vector: Callable[[str], np.ndarray] | None = None,
) -> IntentPrediction:
    """``classifier``'s prediction for one message, in a batch with the other turns' messages
    for the same model (each store's model batches on its own).

    A floor model (``shares_base_encoder``) reads the message's retrieval embedding instead
    (``vector``, the turn's cached ``query_vector``) with ``CHAT_SHARED_ENCODER``: one encoder
    pass serves the intent and the search."""
    if vector is not None and settings.CHAT_SHARED_ENCODER and classifier.shares_base_encoder:
        return classifier.predict_vectors(vector(text)[None, :], [text])[0]
    _release_db_connection()
    if not settings.CHAT_BATCHING:
        return classifier.predict([text])[0]
    return _shared_batcher().call(_sized(classifier.predict), text, key=classifier.predict)


def batcher_stats() -> BatcherStats | None:
    return _batcher.stats() if _batcher is not None else None


def inference_threads_configure() -> None:
    """Size torch's and FAISS's thread pools for a web process, once.

    torch gets ``INFERENCE_THREADS`` intra-op threads (the machine's cores shared among its web
    processes) and one inter-op thread; FAISS searches one query at a time over small indexes,
    where OpenMP's threads only spin against the encoder for the same cores.
    """
    global _threads_configured
    if _threads_configured:
        return
    with _lock:
        if _threads_configured:
            return
        import faiss
        import torch

        torch.set_num_threads(settings.INFERENCE_THREADS)
        try:
            torch.set_num_interop_threads(1)
        except RuntimeError:  # only settable before the first parallel op; keep the default
            logger.debug("torch inter-op threads already fixed")
        faiss.omp_set_num_threads(1)
        # An eager op, and the traced forward pass at its edges, waits for the GIL behind the
        # event loop and the turns' ORM work: at the default 5 ms switch interval a batch of 48
        # took 928 ms eager / 346 ms traced beside one busy Python thread, at 1 ms 420 / 230 ms
        # (the Python thread's own rate unchanged).
        sys.setswitchinterval(0.001)
        _threads_configured = True
        logger.info("inference threads: torch %d, faiss 1", settings.INFERENCE_THREADS)
