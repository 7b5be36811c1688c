"""Chat benchmark: how long one whole bot turn takes on the demo store.

The real Django code path runs against a throwaway SQLite database and model folder (embedded
mode: in-memory channel layer). The demo store is loaded and indexed and its intent model is
trained with ``train_intents``' defaults; then every turn is one shopper message over the real
websocket consumer (``channels.testing.WebsocketCommunicator`` on the ASGI application): the
time from sending the frame to receiving the bot's reply frame. That covers saving and redacting
the message, intent inference, VADER, the action (template, order lookup, product or FAQ
search), saving the reply and pushing it through the channel layer.

Each turn opens a fresh conversation (not timed), so an escalation in one turn doesn't silence
the bot for the next. Messages are the held-out demo utterances (never trained on), so every
action is exercised in its real proportions.

Reported side by side from the same run:

* ShopDesk turn (intent model + actions + retrieval);
* baseline turn: the same consumer with no intent model live (retrieval only, the foundation's
  bot), which shows what the model adds to a turn;
* the model's share: ``IntentClassifier.predict`` on one message, and ``kb_search``.

Run: ``.venv/bin/python -m bench.chat [--turns 200] [--json FILE]``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench.retrieval import environment, log, section, setup_django, table

HELDOUT = (
    Path(__file__).resolve().parent.parent / "webapp" / "demo" / "data" / "intents_heldout.jsonl"
)
ORIGIN = [(b"origin", b"http://testserver")]
WARMUP_TURNS = 5


def percentiles(values_ms: list[float]) -> dict[str, float]:
    array = np.asarray(values_ms)
    return {
        "n": len(values_ms),
        "p50_ms": round(float(np.percentile(array, 50)), 2),
        "p90_ms": round(float(np.percentile(array, 90)), 2),
        "p99_ms": round(float(np.percentile(array, 99)), 2),
        "mean_ms": round(float(array.mean()), 2),
    }


def messages(count: int, seed: int = 7) -> list[str]:
    with HELDOUT.open(encoding="utf-8") as handle:
        texts = [json.loads(line)["text"] for line in handle if line.strip()]
    random.Random(seed).shuffle(texts)
    return (texts * (count // len(texts) + 1))[:count]


async def one_turn(application: Any, text: str) -> tuple[float, dict[str, Any]]:
    from channels.testing import WebsocketCommunicator

    communicator = WebsocketCommunicator(application, "/ws/chat/demo/", headers=ORIGIN)
    connected, _ = await communicator.connect()
    assert connected
    await communicator.receive_json_from(timeout=10)  # the conversation frame
    started = time.perf_counter()
    await communicator.send_json_to({"type": "message", "text": text})
    while True:
        frame = await communicator.receive_json_from(timeout=30)
        if frame.get("type") == "message" and frame.get("role") == "bot":
            elapsed = (time.perf_counter() - started) * 1000
            break
    await communicator.disconnect()
    return elapsed, frame


async def run_turns(texts: list[str]) -> tuple[list[float], list[dict[str, Any]]]:
    from webapp.asgi import application

    for text in texts[:WARMUP_TURNS]:
        await one_turn(application, text)
    latencies, frames = [], []
    for number, text in enumerate(texts, start=1):
        elapsed, frame = await one_turn(application, text)
        latencies.append(elapsed)
        frames.append(frame)
        if number % 50 == 0:
            log(f"  {number}/{len(texts)} turns, p50 so far {np.percentile(latencies, 50):.1f} ms")
    return latencies, frames


def component_latencies(store_id: int, texts: list[str]) -> dict[str, dict[str, float]]:
    from webapp.intents.selectors import intent_classifier_live
    from webapp.kb.selectors import kb_search

    classifier = intent_classifier_live(store_id=store_id)
    assert classifier is not None
    for text in texts[:WARMUP_TURNS]:
        classifier.predict([text])
    predict_ms, search_ms = [], []
    for text in texts:
        started = time.perf_counter()
        classifier.predict([text])
        predict_ms.append((time.perf_counter() - started) * 1000)
        started = time.perf_counter()
        kb_search(store_id=store_id, query=text, k=5)
        search_ms.append((time.perf_counter() - started) * 1000)
    return {"intent_predict": percentiles(predict_ms), "kb_search": percentiles(search_ms)}


def prepare_demo() -> tuple[int, dict[str, Any]]:
    from django.core.management import call_command

    from webapp.demo.services import DEMO_SLUG
    from webapp.mlops.models import ModelKind
    from webapp.mlops.training import model_train_now
    from webapp.stores.selectors import store_get_by_slug

    log("loading the demo store and building its index")
    call_command("load_demo", verbosity=0)
    call_command("build_index", "--store", DEMO_SLUG, verbosity=0)
    store = store_get_by_slug(slug=DEMO_SLUG)
    assert store is not None
    log("training the demo intent model (train_intents defaults)")
    started = time.perf_counter()
    result = model_train_now(store=store, kind=ModelKind.INTENT)
    seconds = time.perf_counter() - started
    metrics = result.metrics
    training = {
        "seconds": round(seconds, 1),
        "examples": result.version.training_examples,
        "heldout_accuracy": metrics["without_threshold"]["accuracy"],
        "heldout_macro_f1": metrics["without_threshold"]["macro_f1"],
        "coverage": metrics["coverage"],
        "accepted_precision": metrics["accepted_precision"],
    }
    log(f"  trained in {seconds:.0f} s: {training}")
    return store.id, training


def reply_kind(frame: dict[str, Any]) -> str:
    """What answered the turn, read from the reply frame: its cited sources' kinds, else
    whether it escalated, else a plain reply (greeting, thanks, a question back)."""
    kinds = {source.get("kind") for source in frame.get("sources") or []}
    if "product" in kinds:
        return "product search"
    if "order" in kinds or frame.get("intent") == "order_status":
        return "order flow"
    if "faq" in kinds:
        return "answer citing the FAQ"
    if frame.get("intent") == "talk_to_human":
        return "hand-off"
    return "other reply"


def latency_by_kind(latencies: list[float], frames: list[dict[str, Any]]) -> dict[str, Any]:
    groups: dict[str, list[float]] = {}
    for elapsed, frame in zip(latencies, frames, strict=True):
        groups.setdefault(reply_kind(frame), []).append(elapsed)
    return {kind: percentiles(values) for kind, values in sorted(groups.items())}


def actions_seen(frames: list[dict[str, Any]]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for frame in frames:
        kinds = {source.get("kind") for source in frame.get("sources") or []}
        key = frame.get("intent") or "(none)"
        if "order" in kinds:
            key = "order_status"
        counts[key] = counts.get(key, 0) + 1
    return dict(sorted(counts.items(), key=lambda item: -item[1]))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--turns", type=int, default=200)
    parser.add_argument("--json", type=Path, help="write every figure here as JSON")
    args = parser.parse_args(argv)

    load_at_start = os.getloadavg()[0]
    workdir = Path(tempfile.mkdtemp(prefix="shopdesk-bench-chat-"))
    try:
        setup_django(workdir)
        store_id, training = prepare_demo()
        texts = messages(args.turns)

        log(f"{args.turns} turns with the intent model live")
        model_turns, frames = asyncio.run(run_turns(texts))
        components = component_latencies(store_id, texts)

        from webapp.mlops.models import ModelVersion, VersionState
        from webapp.mlops.runtime import live_models

        log(f"{args.turns} turns with no intent model (retrieval-only baseline)")
        ModelVersion.objects.filter(store_id=store_id).update(state=VersionState.RETIRED)
        live_models.clear()
        baseline_turns, _ = asyncio.run(run_turns(texts))

        results = {
            "environment": environment(load_at_start),
            "load_average_1min_at_end": os.getloadavg()[0],
            "training": training,
            "turn_with_model": percentiles(model_turns),
            "turn_retrieval_only": percentiles(baseline_turns),
            "components": components,
            "replies_by_intent": actions_seen(frames),
            "turn_by_reply_kind": latency_by_kind(model_turns, frames),
        }
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

    section("Whole bot turn over the websocket (frame in -> reply frame out), demo store")
    rows = []
    for name, key in (
        ("ShopDesk: intent model + actions", "turn_with_model"),
        ("baseline: retrieval only", "turn_retrieval_only"),
        ("  intent model predict (1 message)", None),
        ("  kb_search (encode + FAISS + DB)", None),
    ):
        figures = (
            results[key]
            if key
            else results["components"]["intent_predict" if "intent" in name else "kb_search"]
        )
        rows.append(
            [
                name,
                f"{figures['p50_ms']:.1f}",
                f"{figures['p90_ms']:.1f}",
                f"{figures['p99_ms']:.1f}",
            ]
        )
    print(table(["path", "p50 ms", "p90 ms", "p99 ms"], rows))
    print()
    print(
        table(
            ["with the model, by reply", "turns", "p50 ms", "p90 ms", "p99 ms"],
            [
                [
                    kind,
                    str(figures["n"]),
                    f"{figures['p50_ms']:.1f}",
                    f"{figures['p90_ms']:.1f}",
                    f"{figures['p99_ms']:.1f}",
                ]
                for kind, figures in results["turn_by_reply_kind"].items()
            ],
        )
    )
    print(f"\nturns: {args.turns} (+{WARMUP_TURNS} warm-up), held-out demo utterances")
    print(f"training: {results['training']}")
    print(f"replies by intent: {results['replies_by_intent']}")
    load_end = results["load_average_1min_at_end"]
    print(f"load average (1 min): {load_at_start:.2f} at start, {load_end:.2f} at end")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2))
        log(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
