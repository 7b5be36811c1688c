"""The connection storm of ``bench.connect_storm``, in a process of its own (asyncio +
``websockets``): one attacking address opening sockets as fast as it can, while real shoppers
from other addresses keep connecting.

Every loopback address 127.x.y.z reaches the server, so each client binds its own source
address: the attacker ``127.0.0.66``, shopper ``n`` ``127.0.1.n``. The server then sees the
crowd as the distinct visitors it would be behind a real network.

Reads a JSON config on stdin, writes one JSON report on stdout.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any

import numpy as np
from websockets.asyncio.client import connect

from bench.load_client import failure_kind

ATTACKER = "127.0.0.66"


@dataclass(frozen=True)
class StormConfig:
    url: str
    origin: str
    batches: int = 10
    batch_size: int = 100
    shoppers: int = 20
    shopper_interval_s: float = 1.0
    open_timeout_s: float = 10.0


async def _open(config: StormConfig, source: str) -> tuple[str, float]:
    """One connect from ``source`` until its first frame: (outcome, seconds)."""
    started = time.perf_counter()
    try:
        async with connect(
            config.url,
            origin=config.origin,  # type: ignore[arg-type]
            open_timeout=config.open_timeout_s,
            ping_interval=None,
            local_addr=(source, 0),
        ) as socket:
            first = json.loads(await asyncio.wait_for(socket.recv(), config.open_timeout_s))
    except Exception as exc:
        return failure_kind(exc), time.perf_counter() - started
    outcome = first.get("code") or first.get("type") or "unknown"
    return str(outcome), time.perf_counter() - started


async def _attack(config: StormConfig, outcomes: Counter[str]) -> None:
    for _ in range(config.batches):
        results = await asyncio.gather(*(_open(config, ATTACKER) for _ in range(config.batch_size)))
        outcomes.update(outcome for outcome, _ in results)


async def _shopper(
    config: StormConfig, n: int, stop: asyncio.Event, latencies: list[float], failures: Counter
) -> None:
    source = f"127.0.1.{n + 1}"
    while not stop.is_set():
        outcome, seconds = await _open(config, source)
        if outcome == "conversation":
            latencies.append(seconds * 1000)
        else:
            failures[outcome] += 1
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), config.shopper_interval_s)


def _summary(values: list[float]) -> dict[str, float]:
    if not values:
        return {}
    array = np.asarray(values)
    return {
        "n": len(values),
        "p50_ms": round(float(np.percentile(array, 50)), 1),
        "p95_ms": round(float(np.percentile(array, 95)), 1),
        "max_ms": round(float(array.max()), 1),
        "over_500ms": int((array > 500).sum()),
    }


async def storm(config: StormConfig) -> dict[str, Any]:
    # A quiet baseline first: the shoppers' connects before the attack.
    quiet: list[float] = []
    quiet_failures: Counter[str] = Counter()
    for n in range(config.shoppers):
        outcome, seconds = await _open(config, f"127.0.1.{n + 1}")
        if outcome == "conversation":
            quiet.append(seconds * 1000)
        else:
            quiet_failures[outcome] += 1
    stop = asyncio.Event()
    during: list[float] = []
    failures: Counter[str] = Counter()
    shoppers = [
        asyncio.create_task(_shopper(config, n, stop, during, failures))
        for n in range(config.shoppers)
    ]
    attack: Counter[str] = Counter()
    started = time.perf_counter()
    await _attack(config, attack)
    attack_s = time.perf_counter() - started
    stop.set()
    await asyncio.gather(*shoppers)
    return {
        "quiet": _summary(quiet),
        "quiet_failures": dict(quiet_failures),
        "during": _summary(during),
        "during_failures": dict(failures),
        "attack": dict(attack),
        "attack_seconds": round(attack_s, 1),
        "attack_connects_per_s": round(config.batches * config.batch_size / attack_s, 1),
    }


def main() -> int:
    config = StormConfig(**json.loads(sys.stdin.read()))
    print(json.dumps(asyncio.run(storm(config))))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
