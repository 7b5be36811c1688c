"""Micro-batching: concurrent single-text model calls coalesced into one forward pass.

A MiniLM forward pass over one short message costs ~8-12 ms on this 2-core CPU; over 64 it
costs ~200 ms, i.e. ~3 ms a message. Hundreds of shoppers writing at once therefore get their
answers several times faster when their messages share forward passes than when each thread
runs its own (and parallel threads running their own also oversubscribe the cores: every
torch call wants all of them).

``MicroBatcher`` owns one worker thread. Callers, from any thread, ``submit(fn, item)`` and get
a ``Future``; the worker takes everything queued (up to ``max_batch`` items, waiting at most
``max_wait_s`` for more to arrive when it was idle), groups the items by ``fn`` and calls each
``fn`` once with its list. So the encoder, and each store's intent model, run one batch each per
cycle, one after the other, never two at once. ``fn`` must return one result per item, in order.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Hashable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

logger = logging.getLogger(__name__)

BatchFn = Callable[[list[Any]], Sequence[Any]]


@dataclass(frozen=True)
class BatcherStats:
    """Counters since start: ``batches`` calls of a batch function over ``items`` items."""

    batches: int
    items: int
    largest: int

    @property
    def mean_batch(self) -> float:
        return self.items / self.batches if self.batches else 0.0


@dataclass
class _Request:
    key: Hashable
    fn: BatchFn
    item: Any
    future: Future[Any]


class MicroBatcher:
    """Runs batch functions on one worker thread, coalescing concurrent calls.

    ``max_wait_s`` is the most an item waits for company when the worker is idle; under load
    the worker is busy, items queue meanwhile and the next cycle takes them without waiting.
    """

    def __init__(self, *, max_batch: int = 64, max_wait_s: float = 0.002, name: str = "batcher"):
        if max_batch < 1:
            raise ValueError("max_batch must be at least 1")
        self.max_batch = max_batch
        self.max_wait_s = max(0.0, max_wait_s)
        self.name = name
        self._queue: queue.SimpleQueue[_Request] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()
        self._batches = 0
        self._items = 0
        self._largest = 0

    def submit(self, fn: BatchFn, item: Any, *, key: Hashable | None = None) -> Future[Any]:
        """Queue ``item`` for ``fn``; items with the same ``key`` (default: ``fn`` itself) run
        in one call. The future holds ``fn``'s result for this item, or its exception."""
        self._ensure_started()
        future: Future[Any] = Future()
        self._queue.put(_Request(fn if key is None else key, fn, item, future))
        return future

    def call(self, fn: BatchFn, item: Any, *, key: Hashable | None = None) -> Any:
        """``submit`` and wait: the blocking form for code running in a worker thread."""
        return self.submit(fn, item, key=key).result()

    def stats(self) -> BatcherStats:
        return BatcherStats(self._batches, self._items, self._largest)

    def _ensure_started(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            return
        with self._start_lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
                self._thread.start()

    def _run(self) -> None:
        while True:
            pending = self._collect(self._queue.get())
            groups: dict[Hashable, list[_Request]] = {}
            for request in pending:
                groups.setdefault(request.key, []).append(request)
            for requests in groups.values():
                self._run_group(requests)

    def _collect(self, first: _Request) -> list[_Request]:
        pending = [first]
        deadline = time.monotonic() + self.max_wait_s
        while len(pending) < self.max_batch:
            try:
                pending.append(self._queue.get_nowait())
                continue
            except queue.Empty:
                pass
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            try:
                pending.append(self._queue.get(timeout=remaining))
            except queue.Empty:
                break
        return pending

    def _run_group(self, requests: list[_Request]) -> None:
        live = [r for r in requests if r.future.set_running_or_notify_cancel()]
        if not live:
            return
        try:
            results = list(live[0].fn([r.item for r in live]))
            if len(results) != len(live):
                raise RuntimeError(f"batch function returned {len(results)} for {len(live)}")
        except Exception as exc:  # handed to every caller; the worker keeps running
            logger.debug("%s: batch of %d failed", self.name, len(live), exc_info=True)
            for request in live:
                request.future.set_exception(exc)
            return
        self._batches += 1
        self._items += len(live)
        self._largest = max(self._largest, len(live))
        for request, result in zip(live, results, strict=True):
            request.future.set_result(result)


def length_buckets(lengths: Sequence[int], max_batch: int, slack: float = 1.25) -> list[list[int]]:
    """Indices grouped for padded batches: sorted by length, a batch closes when it holds
    ``max_batch`` or when padding it to its longest member would cost more than ``slack`` times
    its real tokens. A transformer's cost is per padded token (~0.4 ms each for MiniLM on one
    core here), and one 35-token message in a batch of 48 averaging 15 tokens more than doubled
    the work of the other 47."""
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    batches: list[list[int]] = []
    current: list[int] = []
    real = 0
    for index in order:
        length = max(1, lengths[index])
        padded = (len(current) + 1) * length  # sorted: this one is the longest so far
        if current and (len(current) >= max_batch or padded > slack * (real + length)):
            batches.append(current)
            current, real = [], 0
        current.append(index)
        real += length
    if current:
        batches.append(current)
    return batches
