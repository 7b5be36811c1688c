"""Limits on how fast one client may knock: websocket connects per IP, messages per socket.

Two shapes, each the simplest that holds:

* ``window_allows``: a fixed window counted in the Django cache (Redis when ``REDIS_URL`` is
  set, so every web process counts together; the process's memory in the embedded default).
  One ``add`` and one atomic ``incr`` a call. Used for connects per IP, where the count must be
  shared by the processes behind a load balancer.
* ``TokenBucket``: in memory, for one websocket connection, which lives in one process: a burst
  of ``burst`` messages, then ``per_minute`` a minute. No I/O at all on the message path.

HTTP endpoints use django-ratelimit (the review API) and django-axes (the admin login).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any

from django.core.cache import cache


@dataclass(frozen=True)
class Decision:
    allowed: bool
    retry_after_s: int = 0


def window_allows(scope: str, key: str, *, limit: int, window_s: int = 60) -> Decision:
    """Count one hit for ``key``; allowed while the window's count is within ``limit``.
    ``limit`` 0 turns the limit off."""
    if limit <= 0:
        return Decision(True)
    now = time.time()
    window = int(now // window_s)
    name = f"rl:{scope}:{key}:{window}"
    cache.add(name, 0, timeout=window_s + 1)
    try:
        count = cache.incr(name)
    except ValueError:  # expired between add and incr: this hit starts the window
        cache.add(name, 1, timeout=window_s + 1)
        count = 1
    retry = max(1, math.ceil((window + 1) * window_s - now))
    return Decision(count <= limit, 0 if count <= limit else retry)


@dataclass
class TokenBucket:
    """``burst`` tokens, refilled at ``per_minute`` a minute; 0 per minute: no limit."""

    per_minute: int
    burst: int
    tokens: float = field(init=False)
    stamp: float = field(init=False)

    def __post_init__(self) -> None:
        self.tokens = float(self.burst)
        self.stamp = time.monotonic()

    def take(self) -> Decision:
        if self.per_minute <= 0:
            return Decision(True)
        now = time.monotonic()
        rate = self.per_minute / 60.0
        self.tokens = min(float(self.burst), self.tokens + (now - self.stamp) * rate)
        self.stamp = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return Decision(True)
        return Decision(False, max(1, math.ceil((1.0 - self.tokens) / rate)))


class LocalWindows:
    """Per-process fixed-window counts, checked on the event loop with no I/O at all: the
    first line against a flood, before the shared count in the cache."""

    def __init__(self, window_s: int = 60, max_keys: int = 100_000) -> None:
        self.window_s = window_s
        self.max_keys = max_keys
        self._counts: dict[str, tuple[int, int]] = {}

    def hit(self, key: str) -> int:
        """Count one hit for ``key``; the count in the current window, this one included."""
        window = int(time.time() // self.window_s)
        seen, count = self._counts.get(key, (window, 0))
        count = count + 1 if seen == window else 1
        if len(self._counts) >= self.max_keys and key not in self._counts:
            self._counts = {k: v for k, v in self._counts.items() if v[0] == window}
        self._counts[key] = (window, count)
        return count


def client_ip(scope: dict) -> str:
    """The client address of an ASGI scope (behind a proxy, run the server with its proxy-header
    option so that this is the shopper's address, not the proxy's)."""
    client = scope.get("client")
    return str(client[0]) if client else "unknown"


# Connects from one address beyond this many times the per-minute limit, counted in this
# process, are refused at the handshake (HTTP 403) by ``FloodGate``, without a frame.
FLOOD_FACTOR = 2


class FloodGate:
    """ASGI middleware in front of a websocket route: an address far over its connect limit
    (``FLOOD_FACTOR`` x ``limit()`` in this process's own count) is refused at the handshake
    before anything else runs: no consumer, no channel-layer channel, no session, no cache
    round trip. Closer to the limit the consumer refuses with an explanatory frame."""

    def __init__(self, application: Any, limit: Any) -> None:
        self.application = application
        self.limit = limit
        self.windows = LocalWindows()

    async def __call__(self, scope: dict, receive: Any, send: Any) -> Any:
        limit = self.limit()
        if (
            scope["type"] == "websocket"
            and limit
            and (self.windows.hit(client_ip(scope)) > FLOOD_FACTOR * limit)
        ):
            message = await receive()
            if message["type"] == "websocket.connect":
                await send({"type": "websocket.close"})
            return None
        return await self.application(scope, receive, send)
