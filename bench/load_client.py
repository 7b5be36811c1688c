"""The shoppers of the load harness, in a process of their own (asyncio + ``websockets``).

``bench.load`` starts it as ``python -m bench.load_client`` with a JSON ``ClientConfig`` on
stdin and reads one JSON ``ClientReport`` from stdout; progress goes to stderr. Each shopper
connects to the chat (connections ramped over ``ramp_s``), reads the ``conversation`` frame,
then sends ``messages`` distinct texts (``bench.shopper_texts``), each after a think time drawn
from uniform(0, ``think_s``) following the previous reply. A message's latency runs from
sending its ``message`` frame to receiving the bot's ``message`` frame; the shopper's own echo
and ``typing`` frames are skipped, ``busy`` frames counted (the reply still follows). An
``error`` frame answers the message with that code. A system or agent message, or the state
moving to ``waiting``/``agent``, means a human has the conversation: the bot goes silent, so
the conversation counts as handed off (a message answered only by the notice is neither a reply
nor lost) and the shopper stops. A reply that hasn't come within
``reply_timeout_s`` is lost, and that shopper gives up, as a real one would.

Run by hand: ``echo '{"url": "ws://127.0.0.1:8000/ws/chat/demo/", "origin":
"http://127.0.0.1:8000", "shoppers": 10}' | .venv/bin/python -m bench.load_client``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import sys
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from bench.shopper_texts import shopper_texts

# Spare texts beyond shoppers x messages, so a run never needs to repeat one.
SPARE_TEXTS = 0.1
# A turn ends with the bot's typing-off frame, after any hand-off notice; the next message
# waits for it at most this long, so a shopper never writes into a hand-off it hasn't seen.
TURN_END_GRACE_S = 2.0
PROGRESS_EVERY_S = 5.0
HANDED_OFF_STATES = frozenset({"waiting", "agent"})


@dataclass(frozen=True)
class ClientConfig:
    url: str  # ws://127.0.0.1:PORT/ws/chat/demo/
    origin: str  # http://127.0.0.1:PORT
    shoppers: int = 500
    messages: int = 5
    ramp_s: float = 5.0
    think_s: float = 4.0
    reply_timeout_s: float = 15.0
    open_timeout_s: float = 20.0
    seed: int = 7
    texts: tuple[str, ...] = ()  # empty: generated from the seed


@dataclass
class ShopperTally:
    connected: bool = False
    connect_failure: str = ""
    sent: int = 0
    latencies_ms: list[float] = field(default_factory=list)
    busy: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    lost: int = 0
    handed_off: int = 0  # 1 once a human has the conversation
    handed_off_after: str = ""  # the shopper's last text before the hand-off
    disconnects: Counter[str] = field(default_factory=Counter)
    first_send: float | None = None
    last_reply: float | None = None


@dataclass(frozen=True)
class ClientReport:
    shoppers: int
    connected: int
    connect_failures: dict[str, int]
    peak_open: int
    messages_sent: int
    replies: int
    replies_per_s: float
    message_phase_s: float
    latency_ms: dict[str, float]
    busy_frames: int
    errors: dict[str, int]
    lost: int
    handed_off: int  # conversations a human took (the bot's reply, if any, still counts)
    handed_off_after: list[str]  # the last text before each hand-off (at most 50)
    disconnects: dict[str, int]
    wall_s: float


class Conversation:
    """One shopper's socket: a reader task turns frames into tallies and answers the message
    waiting for its reply."""

    def __init__(self, socket: ClientConnection, tally: ShopperTally, timeout: float) -> None:
        self.socket = socket
        self.tally = tally
        self.timeout = timeout
        self.pending: asyncio.Future[str] | None = None
        self.answered_at = 0.0
        self.last_text = ""
        self.turn_over = asyncio.Event()
        self.turn_over.set()
        self.handed_off = False
        self.reader = asyncio.create_task(self._read())

    async def send(self, text: str) -> str:
        """Send one message; the outcome: ``reply``, ``handed_off``, ``error``, ``lost`` or
        ``closed``. A reply's latency is tallied."""
        loop = asyncio.get_running_loop()
        self.pending = loop.create_future()
        self.turn_over.clear()
        started = loop.time()
        self.tally.sent += 1
        self.last_text = text
        if self.tally.first_send is None:
            self.tally.first_send = started
        await self.socket.send(json.dumps({"type": "message", "text": text}))
        try:
            outcome = await asyncio.wait_for(self.pending, self.timeout)
        except TimeoutError:
            outcome = "lost"
        finally:
            self.pending = None
        if outcome == "reply":
            self.tally.latencies_ms.append((self.answered_at - started) * 1000)
            self.tally.last_reply = self.answered_at
        elif outcome in ("lost", "closed"):
            self.tally.lost += 1
        return outcome

    async def wait_turn_end(self) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.turn_over.wait(), TURN_END_GRACE_S)

    def _answer(self, outcome: str) -> None:
        if self.pending is not None and not self.pending.done():
            self.answered_at = asyncio.get_running_loop().time()
            self.pending.set_result(outcome)

    async def _read(self) -> None:
        try:
            async for raw in self.socket:
                self._on_frame(json.loads(raw))
        except ConnectionClosed as closed:
            self.tally.disconnects[f"close {closed.rcvd.code if closed.rcvd else 'none'}"] += 1
        finally:
            self.turn_over.set()
            self._answer("closed")

    def _on_frame(self, frame: dict[str, Any]) -> None:
        kind = frame.get("type")
        if kind == "message":
            role = frame.get("role")
            if role == "bot":
                self._answer("reply")
            elif role in ("system", "agent"):
                self._hand_off()
        elif kind == "typing" and frame.get("active") is False:
            self.turn_over.set()
        elif kind == "state" and frame.get("state") in HANDED_OFF_STATES:
            self._hand_off()
        elif kind == "busy":
            self.tally.busy += 1
        elif kind == "error":
            self.tally.errors[str(frame.get("code"))] += 1
            self._answer("error")

    def _hand_off(self) -> None:
        if not self.handed_off:
            self.handed_off = True
            self.tally.handed_off += 1
            self.tally.handed_off_after = self.last_text
        self._answer("handed_off")

    async def close(self) -> None:
        await self.socket.close()
        await self.reader


@dataclass
class OpenCount:
    now: int = 0
    peak: int = 0

    def opened(self) -> None:
        self.now += 1
        self.peak = max(self.peak, self.now)


def failure_kind(exc: BaseException) -> str:
    if isinstance(exc, InvalidStatus):
        return f"InvalidStatus {exc.response.status_code}"
    if isinstance(exc, ConnectionClosed) and exc.rcvd is not None:
        return f"{type(exc).__name__} {exc.rcvd.code}"
    return type(exc).__name__


async def open_conversation(config: ClientConfig, tally: ShopperTally) -> Conversation | None:
    try:
        # No keepalive pings: under overload a late pong would close the socket, and this
        # measures replies, not the client's keepalive policy.
        socket = await connect(
            config.url,
            origin=config.origin,  # type: ignore[arg-type]
            open_timeout=config.open_timeout_s,
            ping_interval=None,
            max_size=2**22,
        )
        first = json.loads(await asyncio.wait_for(socket.recv(), config.open_timeout_s))
    except Exception as exc:
        tally.connect_failure = failure_kind(exc)
        return None
    if first.get("type") != "conversation":
        tally.connect_failure = f"first frame {first.get('type')}:{first.get('code', '')}"
        await socket.close()
        return None
    tally.connected = True
    return Conversation(socket, tally, config.reply_timeout_s)


async def shopper(
    config: ClientConfig,
    texts: list[str],
    tally: ShopperTally,
    *,
    delay: float,
    seed: int,
    open_count: OpenCount,
) -> None:
    rng = random.Random(seed)
    await asyncio.sleep(delay)
    conversation = await open_conversation(config, tally)
    if conversation is None:
        return
    open_count.opened()
    try:
        for text in texts:
            await asyncio.sleep(rng.uniform(0, config.think_s))
            await conversation.wait_turn_end()
            if conversation.handed_off:
                break
            if await conversation.send(text) in ("lost", "closed", "handed_off"):
                break
        # The turn's last frames (typing off) before leaving: a socket closed under them makes
        # the server log a send on a closed protocol, noise in the run's tracebacks.
        await conversation.wait_turn_end()
    finally:
        open_count.now -= 1
        await conversation.close()


def latency_summary(latencies_ms: list[float]) -> dict[str, float]:
    if not latencies_ms:
        return {"p50": 0.0, "p95": 0.0, "p99": 0.0, "max": 0.0, "mean": 0.0}
    array = np.asarray(latencies_ms)
    figures = {f"p{q}": float(np.percentile(array, q)) for q in (50, 95, 99)}
    figures |= {"max": float(array.max()), "mean": float(array.mean())}
    return {name: round(value, 1) for name, value in figures.items()}


def report(
    config: ClientConfig, tallies: list[ShopperTally], peak: int, wall: float
) -> ClientReport:
    latencies = [ms for tally in tallies for ms in tally.latencies_ms]
    starts = [t.first_send for t in tallies if t.first_send is not None]
    ends = [t.last_reply for t in tallies if t.last_reply is not None]
    phase = (max(ends) - min(starts)) if starts and ends else 0.0

    def total(name: str) -> dict[str, int]:
        counter: Counter[str] = Counter()
        for tally in tallies:
            counter.update(getattr(tally, name))
        return dict(counter.most_common())

    return ClientReport(
        shoppers=config.shoppers,
        connected=sum(t.connected for t in tallies),
        connect_failures=dict(Counter(t.connect_failure for t in tallies if t.connect_failure)),
        peak_open=peak,
        messages_sent=sum(t.sent for t in tallies),
        replies=len(latencies),
        replies_per_s=round(len(latencies) / phase, 1) if phase > 0 else 0.0,
        message_phase_s=round(phase, 2),
        latency_ms=latency_summary(latencies),
        busy_frames=sum(t.busy for t in tallies),
        errors=total("errors"),
        lost=sum(t.lost for t in tallies),
        handed_off=sum(t.handed_off for t in tallies),
        handed_off_after=[t.handed_off_after for t in tallies if t.handed_off_after][:50],
        disconnects=total("disconnects"),
        wall_s=round(wall, 2),
    )


def texts_for(config: ClientConfig) -> list[list[str]]:
    """Each shopper's messages: distinct across the whole run."""
    needed = config.shoppers * config.messages
    pool = (
        list(config.texts) or shopper_texts(int(needed * (1 + SPARE_TEXTS)) + 1, config.seed).texts
    )
    if len(pool) < needed:
        raise ValueError(f"{len(pool)} texts for {needed} messages")
    return [pool[i * config.messages : (i + 1) * config.messages] for i in range(config.shoppers)]


async def progress(tallies: list[ShopperTally], open_count: OpenCount) -> None:
    while True:
        await asyncio.sleep(PROGRESS_EVERY_S)
        replies = sum(len(t.latencies_ms) for t in tallies)
        print(f"  client: {open_count.now} open, {replies} replies", file=sys.stderr, flush=True)


async def drive(config: ClientConfig) -> ClientReport:
    texts = texts_for(config)
    tallies = [ShopperTally() for _ in range(config.shoppers)]
    open_count = OpenCount()
    started = time.monotonic()
    step = config.ramp_s / config.shoppers if config.shoppers else 0.0
    shoppers = [
        shopper(
            config,
            texts[i],
            tallies[i],
            delay=i * step,
            seed=config.seed * 100_003 + i,
            open_count=open_count,
        )
        for i in range(config.shoppers)
    ]
    reporter = asyncio.create_task(progress(tallies, open_count))
    try:
        await asyncio.gather(*shoppers)
    finally:
        reporter.cancel()
    return report(config, tallies, open_count.peak, time.monotonic() - started)


def config_from_json(text: str) -> ClientConfig:
    values = json.loads(text)
    values["texts"] = tuple(values.get("texts", ()))
    return ClientConfig(**values)


def main() -> int:
    config = config_from_json(sys.argv[1] if len(sys.argv) > 1 else sys.stdin.read())
    result = asyncio.run(drive(config))
    print(json.dumps(asdict(result)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
