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


def client_ip(scope: dict) -> str:
    """The client address of an ASGI scope (behind a proxy, run the server with its proxy-header
    option so that this is the shopper's address, not the proxy's)."""
    client = scope.get("client")
    return str(client[0]) if client else "unknown"
