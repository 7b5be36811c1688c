"""The micro-batcher: concurrent calls share one batch call, results keep their order, errors
reach every caller, and different models never share a batch."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from nlp.batching import MicroBatcher


class Recorder:
    """A batch function that records the batches it was called with."""

    def __init__(self, delay: threading.Event | None = None) -> None:
        self.batches: list[list[int]] = []
        self.gate = delay
        self.entered = threading.Event()

    def __call__(self, items: list[int]) -> list[int]:
        self.entered.set()
        if self.gate is not None:
            self.gate.wait(5)
        self.batches.append(list(items))
        return [item * 10 for item in items]


def test_calls_waiting_while_a_batch_runs_share_the_next_one():
    release = threading.Event()
    square = Recorder(delay=release)
    batcher = MicroBatcher(max_batch=64, max_wait_s=0.0)
    first = batcher.submit(square, 0)  # the worker takes it alone and blocks on the gate
    assert square.entered.wait(5)
    rest = [batcher.submit(square, n) for n in range(1, 41)]
    release.set()
    assert first.result(5) == 0
    assert [future.result(5) for future in rest] == [n * 10 for n in range(1, 41)]
    assert square.batches[0] == [0]
    assert square.batches[1:] == [list(range(1, 41))]
    stats = batcher.stats()
    assert (stats.batches, stats.items, stats.largest) == (2, 41, 40)


def test_batches_are_capped_and_callers_in_threads_get_their_own_results():
    record = Recorder()
    batcher = MicroBatcher(max_batch=8, max_wait_s=0.01)
    with ThreadPoolExecutor(max_workers=32) as pool:
        results = list(pool.map(lambda n: batcher.call(record, n), range(200)))
    assert results == [n * 10 for n in range(200)]
    assert max(len(batch) for batch in record.batches) <= 8
    assert sorted(item for batch in record.batches for item in batch) == list(range(200))
    assert len(record.batches) < 200  # concurrent callers were coalesced


def test_items_for_different_functions_run_in_separate_calls():
    release = threading.Event()
    slow = Recorder(delay=release)
    intents, encoder = Recorder(), Recorder()
    batcher = MicroBatcher(max_batch=64, max_wait_s=0.0)
    blocker = batcher.submit(slow, -1)
    assert slow.entered.wait(5)
    futures = [batcher.submit(intents if n % 2 else encoder, n) for n in range(10)]
    release.set()
    blocker.result(5)
    assert [f.result(5) for f in futures] == [n * 10 for n in range(10)]
    assert intents.batches == [[1, 3, 5, 7, 9]]
    assert encoder.batches == [[0, 2, 4, 6, 8]]


def test_an_error_reaches_every_caller_of_its_batch_and_the_worker_goes_on():
    release = threading.Event()
    calls = []

    def broken(items: list[int]) -> list[int]:
        calls.append(items)
        release.wait(5)
        raise RuntimeError("model files gone")

    batcher = MicroBatcher(max_batch=64, max_wait_s=0.0)
    futures = [batcher.submit(broken, n) for n in range(5)]
    release.set()
    # The first call may take one item or all five: either way each caller sees the error.
    for future in futures:
        with pytest.raises(RuntimeError, match="model files gone"):
            future.result(5)
    assert batcher.call(Recorder(), 7) == 70


def test_a_batch_function_must_answer_every_item():
    batcher = MicroBatcher(max_batch=4, max_wait_s=0.0)
    with pytest.raises(RuntimeError, match="returned 0 for 1"):
        batcher.call(lambda items: [], 1)
    with pytest.raises(ValueError, match="max_batch"):
        MicroBatcher(max_batch=0)


def test_length_buckets_keep_padding_low_and_every_index_once():
    from nlp.batching import length_buckets

    lengths = [15] * 47 + [35] + [3, 4, 60]
    buckets = length_buckets(lengths, max_batch=64)
    assert sorted(i for bucket in buckets for i in bucket) == list(range(len(lengths)))
    for bucket in buckets:
        real = sum(lengths[i] for i in bucket)
        padded = len(bucket) * max(lengths[i] for i in bucket)
        assert padded <= 1.25 * real or len(bucket) == 1
    assert [47] in buckets  # the long message no longer pads the 47 short ones
    assert max(len(b) for b in length_buckets([10] * 200, max_batch=64)) == 64
