"""Warm start: each process loads what it serves in the background, and says when it is in.

Apps register warmers in their ``AppConfig.ready()`` for the roles that need them (``web``: the
chat's encoder, intent models and indexes; ``worker``: sentiment models). An entry point (the
ASGI module, a Celery worker process) calls ``warmup_start(role)`` once; the warmers run one
after the other in a daemon thread, so the process accepts connections at once (``/healthz``)
and ``/readyz`` answers 200 only when every warmer has finished. Loading the encoder and the
demo's models takes ~5-9 s on this 2-core machine; without warming, the first shopper waited
that long for a reply.

A warmer that fails is logged and reported by ``/readyz``; the process still becomes ready,
because everything a warmer loads is also loaded on first use (a damaged model answers from
retrieval, a missing index as a store with none), and keeping a process out of rotation for a
model it can do without would turn one bad file into an outage.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from django.conf import settings

logger = logging.getLogger(__name__)

WEB = "web"
WORKER = "worker"


@dataclass(frozen=True)
class Warmer:
    name: str
    warm: Callable[[], None]
    roles: frozenset[str]


@dataclass
class Readiness:
    """Where this process's warm-up stands (read by ``/readyz``)."""

    role: str | None = None
    started_at: float | None = None
    finished_at: float | None = None
    done: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)

    @property
    def ready(self) -> bool:
        return self.finished_at is not None

    def as_dict(self) -> dict[str, object]:
        elapsed = None
        if self.started_at is not None:
            end = self.finished_at or time.monotonic()
            elapsed = round(end - self.started_at, 3)
        return {
            "status": "ready" if self.ready else ("warming" if self.started_at else "cold"),
            "role": self.role,
            "seconds": elapsed,
            "warmed": list(self.done),
            "failed": dict(self.failed),
        }


_warmers: list[Warmer] = []
_state = Readiness()
_lock = threading.Lock()
_finished = threading.Event()


def warmer_register(name: str, warm: Callable[[], None], *, roles: set[str]) -> None:
    """Run ``warm()`` when a process of one of ``roles`` starts (registered once per name)."""
    with _lock:
        if any(w.name == name for w in _warmers):
            return
        _warmers.append(Warmer(name, warm, frozenset(roles)))


def warmup_start(role: str, *, background: bool = True) -> bool:
    """Start warming this process for ``role`` (once); False if it was already started or
    ``WARMUP_ON_START`` is off. ``background=False`` warms in the caller's thread."""
    with _lock:
        if _state.started_at is not None or not settings.WARMUP_ON_START:
            return False
        _state.role = role
        _state.started_at = time.monotonic()
        warmers = [w for w in _warmers if role in w.roles]
    if background:
        threading.Thread(target=_run, args=(warmers,), name="warmup", daemon=True).start()
    else:
        _run(warmers)
    return True


def _run(warmers: list[Warmer]) -> None:
    from django.db import close_old_connections

    for warmer in warmers:
        started = time.monotonic()
        try:
            warmer.warm()
        except Exception as exc:
            logger.exception("warm-up %s failed; it loads on first use instead", warmer.name)
            _state.failed[warmer.name] = f"{type(exc).__name__}: {exc}"[:300]
        else:
            _state.done.append(warmer.name)
            logger.info("warmed %s in %.2f s", warmer.name, time.monotonic() - started)
        finally:
            close_old_connections()
    _state.finished_at = time.monotonic()
    _finished.set()
    logger.info(
        "ready (%s) after %.2f s", _state.role, _state.finished_at - (_state.started_at or 0)
    )


def readiness() -> Readiness:
    """This process's warm-up state. A process whose entry point never warms (a management
    command, ``WARMUP_ON_START=0``) has nothing to wait for and counts as ready."""
    if _state.started_at is None:
        return Readiness(role=None, started_at=0.0, finished_at=0.0)
    return _state


def readiness_wait(timeout: float) -> bool:
    """Block until this process's warm-up has finished (at once if it never started); False
    if ``timeout`` seconds passed first.

    The chat's first turns wait here rather than load models beside the warm-up: two threads
    importing transformers at once fail ("cannot import name 'AutoTokenizer'"), and the turn
    would wait for the same loads anyway.
    """
    if _state.started_at is None or _state.finished_at is not None:
        return True
    return _finished.wait(timeout)


def readiness_reset() -> None:
    """Forget the warm-up (tests)."""
    global _state
    with _lock:
        _state = Readiness()
        _finished.clear()
