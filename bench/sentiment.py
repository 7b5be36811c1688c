"""Sentiment benchmark: quality on two sets of held-out reviews, aspects, and throughput.

Quality (embedded mode, throwaway SQLite), on each set (``--sets``, default both):

* ``demo``: the demo store's 640 reviews, split the way ``train_sentiment`` splits a store's
  (a stable 20% of review ids held out);
* ``own``: ``bench/data/own/reviews.jsonl``, 3,000 reviews of our own writing over five kinds of
  shop (kitchen, clothing, electronics, beauty and toys, garden and furniture), split by the
  same rule on their ids.

Labels come from the stars (1-2 negative, 3 neutral, 4-5 positive). On the held-out reviews it
compares:

* what ``train_sentiment`` registers, trained as deployed (``bench.deployed``: its own process,
  niced, on the training worker's threads), and served int8 as the workers serve it;
* its candidates alone: the floor (a linear head on frozen MiniLM embeddings, with n-grams
  beside them when that wins on validation) and the fine-tuned model;
* MiniLM frozen + LR (the floor without n-grams), TF-IDF + logistic regression
  (``nlp.baselines``: word + char n-grams, class-balanced, C tuned) and VADER
  (``nlp.sentiment.LexiconSentiment``, what scores a store without a model).

Each is judged on three-class macro-F1 and on praise-vs-complaint accuracy (of the 1-2 and 4-5
star reviews, the share labelled negative / positive exactly: neutral counts as wrong), with its
confusion matrix; a line says whether the registered model is at least as good as every baseline
on both. Aspects: ``bench/data/own/aspects.jsonl`` (320 reviews of ours, each aspect opinion
labelled) scores ``aspect_polarities``: finding the aspects, and their polarity next to a
baseline that gives every aspect the whole review's polarity.

Throughput (``--throughput``; needs PostgreSQL and Redis): the demo reviews, copied to
``--reviews`` rows, are queued for scoring (``reviews_request_scoring``, tasks of 64) and real
``celery worker`` processes score them; the figure is reviews / wall time from queueing to the
last review scored, with one worker process and with two. Each scorer is timed: VADER and the
store's fine-tuned model. The database is a fresh ``shopdesk_bench`` on the local server.

Run: ``.venv/bin/python -m bench.sentiment [--sets demo,own] [--json FILE]`` and
``.venv/bin/python -m bench.sentiment --throughput [--reviews 2560]``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from bench.retrieval import log, section, setup_django, table

ROOT = Path(__file__).resolve().parent.parent
BENCH_DB = "shopdesk_bench"
OWN_REVIEWS = ROOT / "bench" / "data" / "own" / "reviews.jsonl"
ASPECTS_SET = ROOT / "bench" / "data" / "own" / "aspects.jsonl"
HELDOUT_PERCENT = 20  # as SENTIMENT_HELDOUT_PERCENT


@dataclass(frozen=True)
class Reviews:
    train_texts: list[str]
    train_ratings: list[int]
    heldout_texts: list[str]
    heldout_ratings: list[int]


def load_own_reviews() -> Reviews:
    """``bench/data/own/reviews.jsonl`` (3,000 reviews of our own writing, five categories),
    split like a store's: a stable hash of each review's id holds 20% out. Text as the model
    reads a review: title and body."""
    rows = [json.loads(line) for line in OWN_REVIEWS.read_text(encoding="utf-8").splitlines()]
    data = Reviews([], [], [], [])
    for row in rows:
        text = ". ".join(part.strip() for part in (row["title"], row["body"]) if part.strip())
        digest = hashlib.sha256(f"review:{row['id']}".encode()).hexdigest()
        if int(digest[:8], 16) % 100 < HELDOUT_PERCENT:
            data.heldout_texts.append(text)
            data.heldout_ratings.append(int(row["rating"]))
        else:
            data.train_texts.append(text)
            data.train_ratings.append(int(row["rating"]))
    return data


def load_demo_reviews() -> Reviews:
    """The demo store's reviews, split by ``train_sentiment``'s own rule (Django, SQLite)."""
    from webapp.demo.services import DEMO_SLUG, demo_load
    from webapp.reviews.selectors import sentiment_datasets
    from webapp.stores.selectors import store_get_by_slug

    demo_load()
    store = store_get_by_slug(slug=DEMO_SLUG)
    assert store is not None
    data = sentiment_datasets(store_id=store.id)
    return Reviews(data.train_texts, data.train_ratings, data.heldout_texts, data.heldout_ratings)


REGISTERED = "ShopDesk registered (as deployed)"
BASELINES = ("VADER (lexicon)", "TF-IDF + LR", "MiniLM frozen + LR")


def quality(data: Reviews, max_seconds: float) -> dict[str, Any]:
    """Every scorer on one set's held-out reviews; the trained ones served int8, as the
    workers serve them."""
    from bench.deployed import train_as_deployed
    from nlp.baselines import TfidfLogRegIntentBaseline
    from nlp.sentiment import (
        LABELS,
        FineTunedSentiment,
        LexiconSentiment,
        rating_label,
        sentiment_report,
        sentiment_training_config,
        train_sentiment_classifier,
    )

    train_labels = [rating_label(r) for r in data.train_ratings]
    gold = [rating_label(r) for r in data.heldout_ratings]
    texts = data.heldout_texts
    log(f"{len(data.train_texts)} training / {len(gold)} held-out reviews")
    rows: list[dict[str, Any]] = []

    def add(name: str, predicted: list[str], seconds: float, extra: dict | None = None) -> None:
        report = sentiment_report(gold, predicted)
        report["confusion"] = confusion(gold, predicted)
        rows.append({"method": name, "train_seconds": round(seconds, 1), **report, **(extra or {})})

    def add_model(name: str, model: Any, seconds: float, training: dict[str, Any]) -> Any:
        served = model.quantized()  # int8 Linear layers, as the workers serve it
        add(
            name,
            [r.label for r in served.predict(texts)],
            seconds,
            {
                "kept": training.get("chosen"),
                "lexical": model.classifier.lexical is not None,
                "selection": training.get("selection"),
                **_speed(served, texts),
                "epochs": training.get("epochs_run"),
                "best_epoch": training.get("best_epoch"),
            },
        )
        return served

    add("VADER (lexicon)", [r.label for r in LexiconSentiment().predict(texts)], 0.0)
    started = time.perf_counter()
    baseline = TfidfLogRegIntentBaseline().fit(data.train_texts, train_labels)
    add("TF-IDF + LR", list(baseline.predict(texts)), time.perf_counter() - started)

    log("training the registered model as deployed ...")
    job = train_as_deployed(
        data.train_texts, train_labels, sentiment_training_config(max_seconds=max_seconds)
    )
    registered = add_model(REGISTERED, FineTunedSentiment(job.model), job.seconds, job.training)
    rows[-1].update({"nice": job.nice, "threads": job.threads})
    variants = [
        ("floor only", {"fine_tune": False}),
        ("fine-tuned only", {"floor": False}),
        ("MiniLM frozen + LR", {"fine_tune": False, "floor_lexical": False}),
    ]
    for name, overrides in variants:
        log(f"training {name} on the star ratings ...")
        config = sentiment_training_config(max_seconds=max_seconds, **overrides)
        started = time.perf_counter()
        model = train_sentiment_classifier(data.train_texts, data.train_ratings, config)
        seconds = time.perf_counter() - started
        report = model.classifier.report
        fields = ("chosen", "selection", "epochs_run", "best_epoch")
        training = {k: getattr(report, k) for k in fields}
        add_model(name, model, seconds, training)
    return {
        "train": len(data.train_texts),
        "heldout": len(gold),
        "heldout_labels": {label: gold.count(label) for label in LABELS},
        "rows": rows,
        "registered_at_least_baselines": verdict(rows),
        "registered_model": registered,
    }


def confusion(gold: Sequence[str], predicted: Sequence[str]) -> dict[str, dict[str, int]]:
    """``confusion[true][predicted]`` counts over the three labels."""
    from nlp.sentiment import LABELS

    table_ = {t: dict.fromkeys(LABELS, 0) for t in LABELS}
    for t, p in zip(gold, predicted, strict=True):
        table_[t][p] += 1
    return table_


def verdict(rows: Sequence[dict[str, Any]]) -> dict[str, bool]:
    """Whether the registered model is at least as good as each baseline on three-class
    macro-F1 and on praise-vs-complaint accuracy, in this run."""
    by_method = {row["method"]: row for row in rows}
    registered = by_method[REGISTERED]
    return {
        f"{name} {measure}": registered[measure] >= by_method[name][measure]
        for name in BASELINES
        for measure in ("macro_f1", "polar_accuracy")
    }


def aspect_quality(model: Any | None) -> dict[str, Any]:
    """``nlp.sentiment.aspect_polarities`` on ``bench/data/own/aspects.jsonl`` (320 reviews
    of ours, each aspect it gives an opinion on labelled positive / negative): finding the
    aspects (precision, recall, F1), and the polarity of the ones found, as served (clauses
    scored by VADER, a clause with no feeling taking the review's score from ``model``, else
    VADER's) next to a baseline that gives every aspect the whole review's polarity."""
    from nlp.sentiment import ASPECTS, LexiconSentiment, aspect_polarities

    rows = [json.loads(line) for line in ASPECTS_SET.read_text(encoding="utf-8").splitlines()]
    texts = [row["text"] for row in rows]
    scorer = model if model is not None else LexiconSentiment()
    overall = [result.score for result in scorer.predict(texts)]
    found = [aspect_polarities(text, score) for text, score in zip(texts, overall, strict=True)]
    counts = {aspect: {"tp": 0, "fp": 0, "fn": 0} for aspect in ASPECTS}
    right = {"clauses": 0, "whole review": 0}
    matched = 0
    for row, predicted, score in zip(rows, found, overall, strict=True):
        gold = row["aspects"]
        for aspect in ASPECTS:
            if aspect in gold and aspect in predicted:
                counts[aspect]["tp"] += 1
                matched += 1
                want = gold[aspect] == "positive"
                right["clauses"] += (predicted[aspect] > 0) == want and predicted[aspect] != 0
                right["whole review"] += (score > 0) == want and score != 0
            elif aspect in gold:
                counts[aspect]["fn"] += 1
            elif aspect in predicted:
                counts[aspect]["fp"] += 1

    def prf(tp: int, fp: int, fn: int) -> dict[str, float]:
        precision = tp / (tp + fp) if tp + fp else 0.0
        recall = tp / (tp + fn) if tp + fn else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        return {"precision": round(precision, 3), "recall": round(recall, 3), "f1": round(f1, 3)}

    total = {k: sum(c[k] for c in counts.values()) for k in ("tp", "fp", "fn")}
    return {
        "reviews": len(rows),
        "labelled_aspects": total["tp"] + total["fn"],
        "overall_score_from": getattr(scorer, "name", "vader"),
        "detection": prf(**total),
        "per_aspect": {
            aspect: {**prf(**c), "support": c["tp"] + c["fn"]} for aspect, c in counts.items()
        },
        "polarity_accuracy": {k: round(v / max(matched, 1), 3) for k, v in right.items()},
    }


def _speed(model: Any, texts: list[str]) -> dict[str, float]:
    """p50 of one review at a time (after 5 warm-up calls) and the batch-of-64 rate."""
    for text in texts[:5]:
        model.predict([text])
    single = []
    for text in texts:
        t0 = time.perf_counter()
        model.predict([text])
        single.append((time.perf_counter() - t0) * 1000)
    t0 = time.perf_counter()
    model.predict(texts, batch_size=64)
    return {
        "p50_ms": round(float(np.percentile(single, 50)), 1),
        "batch64_per_s": round(len(texts) / (time.perf_counter() - t0), 1),
    }


def print_quality(name: str, result: dict[str, Any]) -> None:
    section(
        f"Held-out {name} reviews: {result['heldout']} (train {result['train']}), "
        f"labels {result['heldout_labels']}"
    )
    body = []
    for row in result["rows"]:
        f1 = {label: row["per_label"][label]["f1"] for label in ("negative", "neutral", "positive")}
        kept = str(row.get("kept") or "-").replace("_", "-")
        body.append(
            [
                row["method"],
                kept + (" +n-grams" if row.get("lexical") else ""),
                f"{row['accuracy']:.3f}",
                f"{row['macro_f1']:.3f}",
                f"{row['polar_accuracy']:.3f}",
                f"{f1['negative']:.2f} / {f1['neutral']:.2f} / {f1['positive']:.2f}",
                f"{row['train_seconds']:.0f}",
                str(row.get("p50_ms", "-")),
                str(row.get("batch64_per_s", "-")),
            ]
        )
    headers = [
        "method", "kept", "acc", "macro-F1", "praise/complaint acc", "F1 neg / neu / pos",
        "train s", "p50 ms", "batch/s",
    ]  # fmt: skip
    print(table(headers, body))
    print("\nconfusion (rows: the stars' label; columns: predicted negative / neutral / positive)")
    confusions = []
    for row in result["rows"]:
        for n, (truth, predicted) in enumerate(row["confusion"].items()):
            counts = " / ".join(f"{count:>3}" for count in predicted.values())
            confusions.append([row["method"] if n == 0 else "", truth, counts])
    print(table(["method", "true", "neg / neu / pos"], confusions))
    missed = [k for k, ok in result["registered_at_least_baselines"].items() if not ok]
    print(
        "\nregistered >= every baseline (macro-F1, praise/complaint accuracy): "
        + ("yes" if not missed else "NO: " + ", ".join(missed))
    )


def print_aspects(result: dict[str, Any]) -> None:
    section(
        f"Aspects: {result['reviews']} labelled reviews of ours, "
        f"{result['labelled_aspects']} aspect opinions (overall score: "
        f"{result['overall_score_from']})"
    )
    detection = result["detection"]
    print(
        f"finding the aspects: precision {detection['precision']:.3f}, recall "
        f"{detection['recall']:.3f}, F1 {detection['f1']:.3f}"
    )
    body = [
        [
            aspect,
            str(figures["support"]),
            f"{figures['precision']:.3f}",
            f"{figures['recall']:.3f}",
            f"{figures['f1']:.3f}",
        ]
        for aspect, figures in result["per_aspect"].items()
    ]
    print(table(["aspect", "labelled", "precision", "recall", "F1"], body))
    polarity = result["polarity_accuracy"]
    print(
        f"polarity of the aspects found: by their clauses (as served) {polarity['clauses']:.3f}; "
        f"the whole review's polarity for every aspect (baseline) {polarity['whole review']:.3f}"
    )


# --- throughput with real workers -----------------------------------------------------------


def _bench_database(name: str = BENCH_DB) -> str:
    """A fresh database ``name`` on the local server; returns its URL."""
    import psycopg

    base = os.environ.get("BENCH_POSTGRES", "postgres://postgres@127.0.0.1:5432/postgres")
    with psycopg.connect(base, autocommit=True) as connection:
        connection.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        connection.execute(f"CREATE DATABASE {name}")
    return base.rsplit("/", 1)[0] + f"/{name}"


def _start_workers(
    count: int, env: dict[str, str], logs: Path, queue: str = "default"
) -> list[subprocess.Popen]:
    from workers import app

    processes, names = [], []
    for n in range(count):
        name = f"bench-{n}-{uuid.uuid4().hex[:6]}@localhost"
        worker_env = dict(env)
        # Two worker processes share the 2 cores: one torch thread each, no oversubscription.
        worker_env["OMP_NUM_THREADS"] = str(max(1, (os.cpu_count() or 1) // count))
        handle = open(logs / f"{name}.log", "wb")  # noqa: SIM115 - closed with the process
        processes.append(
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "celery",
                    "-A",
                    "workers",
                    "worker",
                    "--pool=solo",
                    "-Q",
                    queue,
                    "-n",
                    name,
                    "--loglevel=WARNING",
                    "--without-gossip",
                    "--without-mingle",
                    "--without-heartbeat",
                ],
                cwd=ROOT,
                env=worker_env,
                stdout=handle,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        )
        names.append(name)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        replies = app.control.ping(destination=names, timeout=1.0)
        if len(replies) == len(names):
            return processes
    raise SystemExit(f"workers did not answer; see {logs}")


def _stop_workers(processes: list[subprocess.Popen]) -> None:
    for process in processes:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
    for process in processes:
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)


def _time_scoring(store_id: int, ids: list[int], name: str) -> float:
    from webapp.reviews.models import Review
    from webapp.reviews.services import reviews_request_scoring

    started_at = time.time()
    started = time.perf_counter()
    reviews_request_scoring(review_ids=ids, force=True)  # autocommit: queued at once
    from datetime import UTC, datetime

    since = datetime.fromtimestamp(started_at, tz=UTC)
    rows = Review.objects.filter(store_id=store_id, scored_at__gte=since, scored_by=name)
    while rows.count() < len(ids):
        time.sleep(0.05)
        if time.perf_counter() - started > 900:
            raise SystemExit("scoring took more than 15 minutes")
    return time.perf_counter() - started


def throughput(total: int) -> dict[str, Any]:
    workdir = Path(tempfile.mkdtemp(prefix="shopdesk-bench-sentiment-"))
    os.environ["DATABASE_URL"] = _bench_database()
    # A deployment's settings (DEBUG off): one key for this bench's processes.
    os.environ.setdefault("SECRET_KEY", secrets.token_urlsafe(50))
    os.environ["MODEL_DIR"] = str(workdir / "models")
    os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/10")
    os.environ.setdefault("CELERY_BROKER_URL", "redis://127.0.0.1:6379/9")
    os.environ["DJANGO_SETTINGS_MODULE"] = "webapp.settings"
    import django

    django.setup()
    from django.core.management import call_command

    from nlp.sentiment import sentiment_training_config, train_sentiment_classifier
    from webapp.demo.services import DEMO_SLUG, demo_load
    from webapp.mlops.models import ModelKind, ModelVersion, VersionState
    from webapp.mlops.services import model_version_promote, model_version_register
    from webapp.reviews.models import Review
    from webapp.reviews.selectors import sentiment_datasets
    from webapp.stores.selectors import store_get_by_slug
    from workers import app

    call_command("migrate", verbosity=0, interactive=False)
    demo_load()
    app.control.purge()  # demo_load queued scoring tasks; the timed runs start from empty
    store = store_get_by_slug(slug=DEMO_SLUG)
    assert store is not None
    originals = list(Review.objects.filter(store=store))
    copies = [
        Review(
            store=store,
            product=r.product,
            rating=r.rating,
            title=r.title,
            body=r.body,
            created_at=r.created_at,
            source=r.source,
        )
        for n in range(max(0, total - len(originals)))
        for r in [originals[n % len(originals)]]
    ]
    Review.objects.bulk_create(copies, batch_size=1000)
    ids = list(Review.objects.filter(store=store).values_list("id", flat=True))[:total]
    data = sentiment_datasets(store_id=store.id)
    log("training a one-epoch sentiment model (inference cost is the same as a full one)")
    model = train_sentiment_classifier(
        data.train_texts, data.train_ratings, sentiment_training_config(max_epochs=1)
    )
    version = model_version_register(
        store=store,
        kind=ModelKind.SENTIMENT,
        save=model.save,
        metrics={},
        training_examples=len(data.train_texts),
        heldout_examples=0,
        training_seconds=0.0,
    )
    env = dict(os.environ)
    results: dict[str, Any] = {"reviews": len(ids), "runs": []}
    logs = workdir / "logs"
    logs.mkdir()
    try:
        for scorer in ("vader", "model"):
            if scorer == "model":
                model_version_promote(version_id=version.id)
                name = f"sentiment v{version.version}"
            else:
                ModelVersion.objects.filter(id=version.id).update(state=VersionState.RETIRED)
                name = "vader"
            for count in (1, 2):
                processes = _start_workers(count, env, logs)
                try:
                    _time_scoring(store.id, ids[: 64 * count], name)  # warm-up: load the model
                    seconds = _time_scoring(store.id, ids, name)
                finally:
                    _stop_workers(processes)
                rate = len(ids) / seconds
                log(f"  {scorer}, {count} worker(s): {len(ids)} reviews in {seconds:.1f} s")
                results["runs"].append(
                    {
                        "scorer": scorer,
                        "workers": count,
                        "seconds": round(seconds, 2),
                        "reviews_per_s": round(rate, 1),
                    }
                )
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return results


def print_throughput(result: dict[str, Any]) -> None:
    section(f"Scoring throughput through real Celery workers, {result['reviews']} reviews")
    body = [
        [run["scorer"], str(run["workers"]), f"{run['seconds']:.1f}", f"{run['reviews_per_s']:.0f}"]
        for run in result["runs"]
    ]
    print(table(["scorer", "worker processes", "seconds", "reviews/s"], body))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--throughput", action="store_true", help="time real workers instead")
    parser.add_argument("--reviews", type=int, default=2560, help="reviews scored per run")
    parser.add_argument("--max-seconds", type=float, default=18 * 60.0)
    parser.add_argument("--sets", default="demo,own", help="comma-separated: demo, own")
    parser.add_argument("--json", type=Path, help="write the figures here")
    args = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    load = os.getloadavg()[0]
    if args.throughput:
        result = throughput(args.reviews)
        print_throughput(result)
    else:
        result = {"sets": {}}
        loaders = {"demo": load_demo_reviews, "own": load_own_reviews}
        registered = None
        workdir = Path(tempfile.mkdtemp(prefix="shopdesk-bench-sentiment-"))
        try:
            setup_django(workdir)
            for name in args.sets.split(","):
                if name not in loaders:
                    raise SystemExit(f"unknown set {name!r}: choose from {', '.join(loaders)}")
                log(f"{name} reviews ...")
                figures = quality(loaders[name](), args.max_seconds)
                registered = figures.pop("registered_model")
                result["sets"][name] = figures
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
        # The last set's registered model scores the aspect set's reviews (the own set's, by
        # default: reviews of every kind, like the aspect set's).
        result["aspects"] = aspect_quality(registered)
        for name, figures in result["sets"].items():
            print_quality(name, figures)
        print_aspects(result["aspects"])
    print(f"\n{os.cpu_count()} CPUs; load average {load:.2f} -> {os.getloadavg()[0]:.2f}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
