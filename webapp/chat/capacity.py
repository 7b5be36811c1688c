"""How much chat one web process takes on: the threads its calls run in, and the turn queue.

* Short database calls (connect, saving a message, a rating) run in a small pool of their own,
  and bot turns in a larger one, so a crowd of turns waiting for their forward pass never keeps
  a new shopper from connecting. (Channels' default, one thread for every ``thread_sensitive``
  call in the process, let 40 connects a second time out other shoppers' handshakes.)
* At most ``CHAT_TURN_CONCURRENCY`` turns run at once; the rest wait in order, up to
  ``CHAT_TURN_QUEUE`` of them and ``CHAT_TURN_MAX_WAIT_S`` of expected waiting. A full queue
  turns a message away (it is saved; the shopper is told), so memory and waits stay bounded
  however many messages arrive.
"""

from __future__ import annotations

import asyncio
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import close_old_connections

from webapp.chat.events import serving_loop
from webapp.common.observability import TURNS_WAITING

R = TypeVar("R")

_pools: dict[str, ThreadPoolExecutor] = {}
_pools_lock = threading.Lock()


def _pool(name: str, workers: int) -> ThreadPoolExecutor:
    pool = _pools.get(name)
    if pool is None:
        with _pools_lock:
            pool = _pools.get(name)
            if pool is None:
                pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix=f"chat-{name}")
                _pools[name] = pool
    return pool


def _with_fresh_connections(fn: Callable[..., R]) -> Callable[..., R]:
    # What channels' database_sync_to_async does, but with Django's own function: channels'
    # test communicator patches its copy out, and connections left open in these threads
    # would then outlive the test (PostgreSQL could not drop the test database).
    def run(*args: Any, **kwargs: Any) -> R:
        close_old_connections()
        try:
            return fn(*args, **kwargs)
        finally:
            close_old_connections()

    return run


async def _in_pool(name: str, workers: int, fn: Callable[..., R], kwargs: dict[str, Any]) -> R:
    serving_loop.set(asyncio.get_running_loop())  # its events go out through this loop
    pool = _pool(name, workers)
    call = sync_to_async(_with_fresh_connections(fn), thread_sensitive=False, executor=pool)
    return await call(**kwargs)


async def in_db_thread(fn: Callable[..., R], /, **kwargs: Any) -> R:
    """``fn(**kwargs)`` in the chat's pool for short database calls."""
    return await _in_pool("db", settings.CHAT_DB_THREADS, fn, kwargs)


async def in_turn_thread(fn: Callable[..., R], /, **kwargs: Any) -> R:
    """``fn(**kwargs)`` in the bot turns' pool (one thread per running turn)."""
    return await _in_pool("turn", settings.CHAT_TURN_CONCURRENCY, fn, kwargs)


def pools_shutdown() -> None:
    """Stop the pools (tests); the next call starts new ones."""
    with _pools_lock:
        pools = list(_pools.values())
        _pools.clear()
    for pool in pools:
        pool.shutdown(wait=True)


class TurnGate:
    """Admission for bot turns on one event loop: ``running`` at most ``limit`` at once, the
    rest waiting in arrival order, at most ``queue_limit`` of them, and none that would wait
    longer than ``max_wait_s`` at the rate turns have been finishing.

    The wait bound is what keeps an overload graceful: a queue counted only in turns let 500
    shoppers pile up ~20 s of work, so every answer came after the shopper had given up while
    the server kept computing them. Turned away at the door, a shopper is told at once.
    """

    RATE_WINDOW_S = 10.0

    def __init__(self, *, limit: int, queue_limit: int, max_wait_s: float = 0.0) -> None:
        self.limit = limit
        self.queue_limit = queue_limit
        self.max_wait_s = max_wait_s
        self.running = 0
        self._waiters: deque[asyncio.Future[None]] = deque()
        self._finished: deque[float] = deque()

    @property
    def waiting(self) -> int:
        return len(self._waiters)

    def rate(self) -> float | None:
        """Turns finished per second over the last ``RATE_WINDOW_S`` (None: too few to tell)."""
        now = time.monotonic()
        while self._finished and self._finished[0] < now - self.RATE_WINDOW_S:
            self._finished.popleft()
        if len(self._finished) < self.limit:
            return None
        return len(self._finished) / max(now - self._finished[0], 0.5)

    def expected_wait(self) -> float:
        """Seconds a turn arriving now would wait for a slot (0 when one is free)."""
        ahead = self.ahead()
        rate = self.rate() if ahead else None
        return ahead / rate if rate else 0.0

    def full(self) -> bool:
        if self.running < self.limit and not self._waiters:
            return False
        if self.waiting >= self.queue_limit:
            return True
        return bool(self.max_wait_s) and self.expected_wait() > self.max_wait_s

    def ahead(self) -> int:
        """Turns a new arrival would wait behind (0: it runs at once)."""
        return 0 if self.running < self.limit and not self._waiters else self.waiting + 1

    async def acquire(self) -> None:
        if self.running < self.limit and not self._waiters:
            self.running += 1
            return
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        TURNS_WAITING.set(len(self._waiters))
        try:
            await waiter  # release() hands its slot over: ``running`` is counted for us
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self.release()  # the slot was handed to us as we were cancelled
            else:
                self._waiters.remove(waiter)
                TURNS_WAITING.set(len(self._waiters))
            raise

    def release(self) -> None:
        self._finished.append(time.monotonic())
        while self._waiters:
            waiter = self._waiters.popleft()
            TURNS_WAITING.set(len(self._waiters))
            if not waiter.done():
                waiter.set_result(None)
                return
        self.running -= 1


_gates: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, TurnGate] = weakref.WeakKeyDictionary()


def turn_gate() -> TurnGate:
    """This event loop's gate (a server runs one loop per process; tests one per test)."""
    loop = asyncio.get_running_loop()
    gate = _gates.get(loop)
    if gate is None:
        gate = TurnGate(
            limit=settings.CHAT_TURN_CONCURRENCY,
            queue_limit=settings.CHAT_TURN_QUEUE,
            max_wait_s=settings.CHAT_TURN_MAX_WAIT_S,
        )
        _gates[loop] = gate
    return gate
