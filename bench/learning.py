"""Learning benchmark: what retraining costs a store and its shoppers.

On the real services (PostgreSQL, Redis, a real ``celery worker`` on the ``training`` queue,
started as deployed: ``TRAINING_NICE`` and ``TRAINING_WORKER_THREADS`` from the settings):

* training duration per store, for stores of 1,000 and (``--sizes 1000,10000``) 10,000 intent
  examples (demo utterances plus augmented copies, ``bench.intents.scaled_examples``), through
  the ``retrain_model`` task;
* chat latency (whole bot turn over the websocket consumer, the demo store with its intent
  model and FAISS index) while that training runs, against idle before and after, in the same
  run; ``--unthrottled`` adds a training worker with priority and threads left alone, the
  baseline that shows what the two settings buy;
* reload time: from a promotion's commit until the chat path (``wait=False``) serves the new
  version, and the load itself (``wait=True``, as the workers do);
* resident memory of the process after each of 20 consecutive swaps (``--swaps``), with the
  freed heap returned to the OS after each swap and without (plain ``gc.collect``).

Run: ``.venv/bin/python -m bench.learning [--sizes 1000] [--unthrottled] [--json FILE]``.
The database is a fresh ``shopdesk_bench_learning`` on the local server.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import secrets
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench.chat import WARMUP_TURNS, messages, one_turn, percentiles
from bench.intents import DEMO_HELDOUT, DEMO_TRAIN, load_examples, scaled_examples
from bench.retrieval import log, section, table
from bench.sentiment import _bench_database, _start_workers, _stop_workers

BENCH_DB = "shopdesk_bench_learning"
IDLE_TURNS = 200


def setup(workdir: Path) -> None:
    os.environ["DATABASE_URL"] = _bench_database(BENCH_DB)
    # A deployment's settings (DEBUG off): one key for this bench's processes.
    os.environ.setdefault("SECRET_KEY", secrets.token_urlsafe(50))
    os.environ["MODEL_DIR"] = str(workdir / "models")
    os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/10")
    os.environ.setdefault("CELERY_BROKER_URL", "redis://127.0.0.1:6379/9")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    os.environ["DJANGO_SETTINGS_MODULE"] = "webapp.settings"
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)


def prepare_demo() -> int:
    """The demo store, indexed, with a live intent model (2 epochs: latency, not quality)."""
    from django.core.management import call_command

    from webapp.demo.services import DEMO_SLUG
    from webapp.mlops.models import ModelKind
    from webapp.mlops.training import model_train_now
    from webapp.stores.selectors import store_get_by_slug

    log("loading the demo store, building its index, training its intent model")
    call_command("load_demo", verbosity=0)
    call_command("build_index", "--store", DEMO_SLUG, verbosity=0)
    store = store_get_by_slug(slug=DEMO_SLUG)
    assert store is not None
    model_train_now(store=store, kind=ModelKind.INTENT, max_epochs=2)
    return store.id


def make_training_store(size: int) -> int:
    """A store with ``size`` distinct training examples and the demo held-out set."""
    from webapp.intents.models import ExampleSplit, IntentExample, text_key
    from webapp.stores.services import store_create

    store = store_create(slug=f"bench-{size}", name=f"Bench {size}")
    # Shuffled first, so a store smaller than the demo set still has every intent.
    originals = list(zip(*load_examples(DEMO_TRAIN), strict=True))
    random.Random(13).shuffle(originals)
    texts, labels = scaled_examples(
        ([t for t, _ in originals], [label for _, label in originals]), size, seed=13
    )
    heldout_texts, heldout_labels = load_examples(DEMO_HELDOUT)
    rows = [
        IntentExample(store=store, text=t, text_key=text_key(t), intent=label, split=split)
        for split, pairs in (
            (ExampleSplit.TRAIN, zip(texts, labels, strict=True)),
            (ExampleSplit.HELDOUT, zip(heldout_texts, heldout_labels, strict=True)),
        )
        for t, label in pairs
    ]
    IntentExample.objects.bulk_create(rows, ignore_conflicts=True)
    return store.id


# Shoppers don't type back to back: a pause between turns keeps a 20-minute training's chat
# sample to a few thousand conversations. Idle and training turns pause alike.
PAUSE_S = 0.05


async def _turns(texts: list[str], keep_going: Any = None) -> list[float]:
    """Bot turns over the consumer; with ``keep_going`` (async, -> bool) cycle through
    ``texts`` for as long as it says so, else one pass."""
    from webapp.asgi import application

    for text in texts[:WARMUP_TURNS]:
        await one_turn(application, text)
    latencies: list[float] = []
    number = 0
    while True:
        if keep_going is not None and not await keep_going():
            return latencies
        elapsed, _ = await one_turn(application, texts[number % len(texts)])
        latencies.append(elapsed)
        number += 1
        if keep_going is None and number >= len(texts):
            return latencies
        await asyncio.sleep(PAUSE_S)


def chat_during_training(store_id: int, texts: list[str]) -> tuple[list[float], dict[str, Any]]:
    """Trigger the store's retraining and chat for as long as its run is RUNNING."""
    from asgiref.sync import sync_to_async

    from webapp.mlops.models import ModelKind, RunState, TrainingRun
    from workers.tasks import retrain_model

    before = TrainingRun.objects.filter(store_id=store_id).count()
    retrain_model.apply_async(
        kwargs={"store_id": store_id, "kind": ModelKind.INTENT, "trigger": "command", "force": True}
    )
    deadline = time.monotonic() + 120
    while TrainingRun.objects.filter(store_id=store_id).count() == before:
        if time.monotonic() > deadline:
            raise SystemExit("the training worker did not start the run within 2 minutes")
        time.sleep(0.2)
    run = TrainingRun.objects.filter(store_id=store_id).order_by("-id").first()
    assert run is not None

    @sync_to_async
    def running() -> bool:
        return TrainingRun.objects.filter(id=run.id, state=RunState.RUNNING).exists()

    latencies = asyncio.run(_turns(texts, running))
    run.refresh_from_db()
    while run.state == RunState.RUNNING:  # chat ended between the check and the save
        time.sleep(0.5)
        run.refresh_from_db()
    training = {
        "examples": run.data_counts.get("trained_on"),
        "state": run.state,
        "seconds": run.duration_seconds,
        "promoted": run.promoted,
        "reason": run.reason,
        "turns_during": len(latencies),
    }
    return latencies, training


def training_and_latency(
    demo_id: int, sizes: list[int], unthrottled: bool, workdir: Path
) -> dict[str, Any]:
    texts = messages(IDLE_TURNS)
    results: dict[str, Any] = {"idle_before": percentiles(asyncio.run(_turns(texts)))}
    log(f"idle: {results['idle_before']}")
    configurations = [("as deployed", {})]
    if unthrottled:
        configurations.append(
            (
                "unthrottled (nice 0, all cores)",
                {"TRAINING_NICE": "0", "TRAINING_WORKER_THREADS": "0"},
            )
        )
    logs = workdir / "logs"
    logs.mkdir(exist_ok=True)
    results["training"] = []
    for name, extra in configurations:
        # The unthrottled baseline needs one size to make its point, the smallest.
        for size in sizes if not extra else sizes[:1]:
            store_id = _store_for(size)
            env = {**os.environ, **extra}
            workers = _start_workers(1, env, logs, queue="training")
            try:
                log(f"training {size:,} examples ({name}) while chatting")
                latencies, training = chat_during_training(store_id, texts)
            finally:
                _stop_workers(workers)
            row = {"worker": name, "size": size, **training, **percentiles(latencies)}
            log(f"  {row}")
            results["training"].append(row)
    results["idle_after"] = percentiles(asyncio.run(_turns(texts)))
    log(f"idle again: {results['idle_after']}")
    idle = {
        key: max(results["idle_before"][key], results["idle_after"][key])
        for key in ("p50_ms", "p99_ms")
    }
    results["idle"] = idle
    return results


_stores: dict[int, int] = {}


def _store_for(size: int) -> int:
    if size not in _stores:
        _stores[size] = make_training_store(size)
    return _stores[size]


def _rss() -> int:
    import psutil

    return int(psutil.Process().memory_info().rss)


def reload_and_memory(store_id: int, swaps: int, trim: bool) -> dict[str, Any]:
    """Promote ``swaps`` fresh copies of the live version one after another; after each, time
    until the chat path serves it and read the process's RSS."""
    from webapp.intents.selectors import intent_classifier_live
    from webapp.mlops import runtime
    from webapp.mlops.models import ModelKind
    from webapp.mlops.selectors import model_version_live
    from webapp.mlops.services import model_version_promote, model_version_register
    from webapp.stores.models import Store

    store = Store.objects.get(id=store_id)
    live = model_version_live(store_id=store_id, kind=ModelKind.INTENT)
    assert live is not None
    copies = [
        model_version_register(
            store=store,
            kind=ModelKind.INTENT,
            save=lambda directory: shutil.copytree(live.path, directory),
            metrics=live.metrics,
            training_examples=live.training_examples,
            heldout_examples=live.heldout_examples,
            training_seconds=0,
        )
        for _ in range(swaps)
    ]
    release = runtime._release_freed_memory
    if not trim:
        import gc

        runtime._release_freed_memory = gc.collect  # type: ignore[assignment]
    sample = messages(8)
    try:
        classifier = intent_classifier_live(store_id=store_id)
        assert classifier is not None
        classifier.predict(sample)
        rss_start = _rss()
        serve_ms, load_ms, rss = [], [], []
        for version in copies:
            started = time.perf_counter()
            model_version_promote(version_id=version.id)
            while runtime.live_models.loaded_version_id(store_id, ModelKind.INTENT) != version.id:
                intent_classifier_live(store_id=store_id, wait=False)
                time.sleep(0.005)
            serve_ms.append((time.perf_counter() - started) * 1000)
            classifier = intent_classifier_live(store_id=store_id)
            assert classifier is not None
            classifier.predict(sample)
            rss.append(_rss())
        # The workers' path: a synchronous load of a version not yet loaded.
        runtime.live_models.clear()
        for version in copies[-5:]:
            model_version_promote(version_id=version.id)
            started = time.perf_counter()
            intent_classifier_live(store_id=store_id, wait=True)
            load_ms.append((time.perf_counter() - started) * 1000)
    finally:
        runtime._release_freed_memory = release
    mb = [value / 2**20 for value in rss]
    return {
        "swaps": swaps,
        "trim": trim,
        "serve_new_version_ms": percentiles(serve_ms) | {"max_ms": round(max(serve_ms), 1)},
        "load_ms": percentiles(load_ms),
        "rss_mb_before": round(rss_start / 2**20, 1),
        "rss_mb_after_each": [round(value, 1) for value in mb],
        "rss_growth_first_to_last": round(mb[-1] / mb[0] - 1, 4),
    }


def print_results(results: dict[str, Any]) -> None:
    section("Chat (whole bot turn, demo store) while a store's intent model retrains")
    idle = results["latency"]["idle"]
    rows = [
        [
            "idle (worse of before/after)",
            "-",
            "-",
            f"{idle['p50_ms']:.1f}",
            f"{idle['p99_ms']:.1f}",
            "1.00",
        ]
    ]
    for row in results["latency"]["training"]:
        rows.append(
            [
                f"training {row['size']:,} ({row['worker']})",
                f"{row['seconds']:.0f}",
                str(row["turns_during"]),
                f"{row['p50_ms']:.1f}",
                f"{row['p99_ms']:.1f}",
                f"{row['p99_ms'] / idle['p99_ms']:.2f}",
            ]
        )
    print(table(["chat while", "training s", "turns", "p50 ms", "p99 ms", "p99 / idle"], rows))
    section("Training duration per store (retrain_model on the training queue)")
    print(
        table(
            ["examples", "worker", "seconds", "state", "outcome"],
            [
                [
                    f"{row['size']:,}",
                    row["worker"],
                    f"{row['seconds']:.0f}",
                    row["state"],
                    row["reason"][:70],
                ]
                for row in results["latency"]["training"]
            ],
        )
    )
    section(f"Hot reload and memory across {results['memory'][0]['swaps']} swaps")
    rows = []
    for memory in results["memory"]:
        serve = memory["serve_new_version_ms"]
        rows.append(
            [
                "malloc_trim after a swap" if memory["trim"] else "gc.collect only",
                f"{serve['p50_ms']:.0f} / {serve['max_ms']:.0f}",
                f"{memory['load_ms']['p50_ms']:.0f}",
                f"{memory['rss_mb_after_each'][0]:.0f}",
                f"{memory['rss_mb_after_each'][-1]:.0f}",
                f"{memory['rss_growth_first_to_last']:+.1%}",
            ]
        )
    print(
        table(
            [
                "after each swap",
                "promote->served ms p50/max",
                "load ms",
                "RSS 1st MB",
                "RSS last MB",
                "growth",
            ],
            rows,
        )
    )
    for memory in results["memory"]:
        how = "trim" if memory["trim"] else "gc only"
        print(f"RSS MB after each swap ({how}): {memory['rss_mb_after_each']}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1000", help="comma-separated store sizes to train")
    parser.add_argument("--unthrottled", action="store_true", help="also train without nice")
    parser.add_argument("--swaps", type=int, default=20)
    parser.add_argument("--skip-training", action="store_true", help="reload and memory only")
    parser.add_argument("--json", type=Path, help="write every figure here as JSON")
    args = parser.parse_args(argv)
    sizes = [int(size) for size in args.sizes.split(",") if size]

    workdir = Path(tempfile.mkdtemp(prefix="shopdesk-bench-learning-"))
    try:
        setup(workdir)
        demo_id = prepare_demo()
        results: dict[str, Any] = {"load_average_1min_at_start": os.getloadavg()[0]}
        if not args.skip_training:
            results["latency"] = training_and_latency(demo_id, sizes, args.unthrottled, workdir)
        log(f"{args.swaps} swaps, with and without returning freed memory")
        results["memory"] = [
            reload_and_memory(demo_id, args.swaps, trim=True),
            reload_and_memory(demo_id, args.swaps, trim=False),
        ]
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    if "latency" in results:
        print_results(results)
    else:
        print_results(
            {**results, "latency": {"idle": {"p50_ms": np.nan, "p99_ms": np.nan}, "training": []}}
        )
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
