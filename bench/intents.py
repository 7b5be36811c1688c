"""Intent benchmark: what ``train_intents`` registers next to its candidates and the baselines,
on three sets in one run, each trained on its training file and scored on its held-out file:

* ``demo``: the demo store's 28 intents (1,400 examples; held out: 448 paraphrases);
* ``faq``: 18 intents derived from the demo FAQ, a handful of examples each;
* ``hard``: 64 intents of our own in near-duplicate families (cancel an order / one item / a
  subscription; refund status / return status), short messages, 1,920 / 768 examples.

Rows: the registered model, trained as deployed (``bench.deployed``: its own process, niced,
on the training worker's threads); the floor alone and the fine-tuned model alone; TF-IDF +
logistic regression; frozen MiniLM embeddings + logistic regression. For each: top-1 accuracy,
macro-F1, accuracy after declining (a declined in-scope message counts as wrong), training wall
time, single-message latency p50/p99 (one ``predict([text])`` at a time, after warm-up),
batch-of-64 throughput, the fallback threshold's coverage and precision, the share of the
held-out out-of-scope messages (``bench/data/out_of_scope.txt`` and
``bench/data/own/out_of_scope.txt``, 250 lines none of the sets covers) it declines, and
calibration error. A line per set says whether the registered model is at least as good as
every baseline on top-1 accuracy and macro-F1.

``--compare`` also trains the other architectures ``nlp.intents`` supports (sequence
classification head; mean pooling with a random head), so the default's choice stays measured.
``--steps`` times fine-tuning steps under the CPU levers (length buckets, frozen lower layers,
one thread under nice as the training worker runs).
``--scale N`` builds an N-example training set by augmenting the demo training utterances
(typos, greetings and politeness, casing, dropped words; deterministic in ``--seed``) and times
the registered model's training on it as deployed, then scores it on the demo held-out set.

Run: ``.venv/bin/python -m bench.intents [--sets demo,faq,hard | --train FILE [--heldout FILE |
--split 0.2]] [--compare] [--scale 10000] [--json]``. Tables go to stdout, progress to stderr;
``--json`` writes every figure to ``bench/results/intents-<UTC time>.json``.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from bench.deployed import deployed_nice, deployed_threads
from bench.retrieval import log, section, table
from nlp.intents import (
    MEAN_POOL,
    SEQUENCE_CLASSIFICATION,
    IntentClassifier,
    IntentTrainingConfig,
    TrainingProgress,
    stratified_split,
    train_intent_classifier,
)
from nlp.metrics import classification_report

ROOT = Path(__file__).resolve().parent.parent
DEMO_TRAIN = ROOT / "webapp" / "demo" / "data" / "intents.jsonl"
DEMO_HELDOUT = ROOT / "webapp" / "demo" / "data" / "intents_heldout.jsonl"
DATA = ROOT / "bench" / "data"
OWN = DATA / "own"
# The sets every run scores, each a training and a held-out file (text / intent):
SETS = {
    # the demo store's 28 intents, 50 examples each; held out: paraphrases in other words
    "demo": (DEMO_TRAIN, DEMO_HELDOUT),
    # questions derived from the demo FAQ, one intent per FAQ entry, few examples each
    "faq": (DATA / "intents_faq_train.jsonl", DATA / "intents_faq_heldout.jsonl"),
    # 64 intents in near-duplicate families (cancel an order / one item / a subscription),
    # short messages, 30 training and 12 held-out examples each
    "hard": (OWN / "hard_intents_train.jsonl", OWN / "hard_intents_heldout.jsonl"),
}
# Messages no intent covers (weather, homework, keyboard mashing, a supplier asking about
# wholesale): the model should decline them. Both lists are ours and held out: the
# out-of-scope bank the gate trains on (``nlp.out_of_scope_bank``) shares no line with them.
OUT_OF_SCOPE_FILES = (DATA / "out_of_scope.txt", OWN / "out_of_scope.txt")
RESULTS = ROOT / "bench" / "results"
# The app's training budget: webapp.settings.INTENT_TRAIN_MAX_SECONDS (same variable, default).
APP_MAX_SECONDS = float(os.environ.get("INTENT_TRAIN_MAX_SECONDS", 18 * 60))
WARMUP = 10
LATENCY_MESSAGES = 300
BATCH = 64

Examples = tuple[list[str], list[str]]


# --- data -------------------------------------------------------------------------------------


def load_examples(path: Path) -> Examples:
    """``text`` / ``intent`` pairs from a JSONL file or a CSV file with those two columns."""
    texts: list[str] = []
    labels: list[str] = []
    with open(path, encoding="utf-8", newline="") as handle:
        if path.suffix.lower() == ".csv":
            rows: Any = csv.DictReader(handle)
        else:
            rows = (json.loads(line) for line in handle if line.strip())
        for row in rows:
            text, intent = (row.get("text") or "").strip(), (row.get("intent") or "").strip()
            if text and intent:
                texts.append(text)
                labels.append(intent)
    if not texts:
        raise SystemExit(f"{path}: no text/intent rows")
    return texts, labels


def split_examples(examples: Examples, fraction: float, seed: int) -> tuple[Examples, Examples]:
    texts, labels = examples
    train, heldout = stratified_split(labels, fraction, seed + 1)
    return (
        ([texts[i] for i in train], [labels[i] for i in train]),
        ([texts[i] for i in heldout], [labels[i] for i in heldout]),
    )


_PREFIXES = ("hi, ", "hello ", "hey ", "excuse me, ", "quick question: ", "good morning, ")
_SUFFIXES = (" please", " asap", " thanks", " thank you!", "?", "!!", " pls", " :(")


def _typo(word: str, rng: random.Random) -> str:
    if len(word) < 4:
        return word
    i = rng.randrange(1, len(word) - 1)
    kind = rng.randrange(3)
    if kind == 0:  # swap two neighbours
        return word[: i - 1] + word[i] + word[i - 1] + word[i + 1 :]
    if kind == 1:  # drop a letter
        return word[:i] + word[i + 1 :]
    return word[:i] + word[i] + word[i:]  # double a letter


def augment(text: str, rng: random.Random) -> str:
    """One noisy variant of ``text``: each change applied with its own probability."""
    words = text.split()
    if len(words) >= 4 and rng.random() < 0.2:
        del words[rng.randrange(len(words))]
    if rng.random() < 0.4:
        i = rng.randrange(len(words))
        words[i] = _typo(words[i], rng)
    out = " ".join(words)
    if rng.random() < 0.3:
        out = rng.choice(_PREFIXES) + out[:1].lower() + out[1:]
    if rng.random() < 0.3:
        out = out.rstrip(".?!") + rng.choice(_SUFFIXES)
    casing = rng.random()
    if casing < 0.2:
        out = out.lower()
    elif casing < 0.27:
        out = out.upper()
    elif casing < 0.35:
        out = out.capitalize()
    return out


def scaled_examples(examples: Examples, n: int, seed: int) -> Examples:
    """``n`` distinct examples (casefolded, as ``import_intents`` counts them): the originals
    first, then augmented copies cycling through them, so the class balance is kept."""
    rng = random.Random(seed)
    texts, labels = examples
    out_texts: list[str] = []
    out_labels: list[str] = []
    seen: set[str] = set()

    def add(text: str, label: str) -> None:
        if text.casefold() not in seen and len(out_texts) < n:
            seen.add(text.casefold())
            out_texts.append(text)
            out_labels.append(label)

    for text, label in zip(texts, labels, strict=True):
        add(text, label)
    for i in range(100 * n):
        if len(out_texts) >= n:
            break
        add(augment(texts[i % len(texts)], rng), labels[i % len(texts)])
    return out_texts, out_labels


def export_csv(path: Path, examples: Examples) -> None:
    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "intent"])
        writer.writerows(zip(*examples, strict=True))
    log(f"wrote {len(examples[0])} rows to {path}")


# --- measurement ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Speed:
    p50_ms: float
    p99_ms: float
    batch_per_s: float


def measure_speed(predict: Callable[[list[str]], Any], texts: Sequence[str]) -> Speed:
    """Single-message latency over up to 300 texts after 10 warm-up calls, and throughput in
    batches of 64 over all texts (repeated to at least 640 messages)."""
    for text in texts[:WARMUP]:
        predict([text])
    timings = []
    for text in list(texts)[:LATENCY_MESSAGES]:
        start = time.perf_counter()
        predict([text])
        timings.append(time.perf_counter() - start)
    pool = list(texts) * max(1, -(-10 * BATCH // len(texts)))
    start = time.perf_counter()
    for offset in range(0, len(pool), BATCH):
        predict(pool[offset : offset + BATCH])
    elapsed = time.perf_counter() - start
    return Speed(
        p50_ms=round(float(np.percentile(timings, 50)) * 1000, 2),
        p99_ms=round(float(np.percentile(timings, 99)) * 1000, 2),
        batch_per_s=round(len(pool) / elapsed, 1),
    )


def progress_logger(name: str) -> Callable[[TrainingProgress], None]:
    def report(event: TrainingProgress) -> None:
        if event.kind == "epoch":
            log(
                f"  {name}: epoch {event.epoch}/{event.max_epochs} step {event.step}/"
                f"{event.total_steps} loss {event.loss:.4f} val acc {event.val_accuracy:.3f} "
                f"macro-F1 {event.val_macro_f1:.3f} ({event.elapsed_s:.0f} s, eta "
                f"{event.eta_s:.0f} s)"
            )
        elif event.step % 100 == 0:
            log(
                f"  {name}: step {event.step}/{event.total_steps} loss {event.loss:.4f} "
                f"({event.elapsed_s:.0f} s, eta {event.eta_s:.0f} s)"
            )

    return report


def run_finetuned(
    name: str,
    config: IntentTrainingConfig,
    train: Examples,
    heldout: Examples,
    speed: bool,
    deployed: bool = False,
) -> dict[str, Any]:
    """Train and score one configuration; ``deployed``: in a child process, niced, on the
    training worker's threads (``bench.deployed``), as a store's retraining runs."""
    log(f"training {name} on {len(train[0])} examples{' as deployed' if deployed else ''} ...")
    extra: dict[str, Any] = {}
    if deployed:
        from bench.deployed import train_as_deployed

        job = train_as_deployed(*train, config)
        model, seconds, training = job.model, job.seconds, job.training
        extra = {"nice": job.nice, "threads": job.threads}
    else:
        start = time.perf_counter()
        model = train_intent_classifier(*train, config, progress_logger(name))
        seconds = time.perf_counter() - start
        assert model.report is not None
        training = {k: v for k, v in asdict(model.report).items() if k != "validation"}
    metrics = model.evaluate(*heldout)
    result: dict[str, Any] = {
        "method": name,
        "architecture": config.architecture,
        "centroid_init": config.centroid_init,
        "train_examples": len(train[0]),
        "train_seconds": round(seconds, 1),
        **extra,
        "kept": training["chosen"],
        "lexical": model.lexical is not None,
        "selection": training["selection"],
        "accuracy": metrics["without_threshold"]["accuracy"],
        "macro_f1": metrics["without_threshold"]["macro_f1"],
        "accuracy_after_declining": metrics["accuracy"],
        "coverage": metrics["coverage"],
        "accepted_precision": metrics["accepted_precision"],
        "threshold": metrics["threshold"],
        "familiarity_threshold": metrics.get("familiarity_threshold"),
        "out_of_scope_declined": model.declined_share(out_of_scope()),
        "heldout_ece": metrics.get("ece"),
        "heldout_nll": metrics.get("nll"),
        "training": training,
        "heldout": metrics,
    }
    if speed:
        result["speed"] = asdict(measure_speed(model.predict, heldout[0]))
        result["heldout_uncalibrated_ece"] = _uncalibrated_ece(model, heldout)
    return result


def out_of_scope() -> list[str]:
    """Every held-out out-of-scope message (both files, 250 lines)."""
    lines: list[str] = []
    for path in OUT_OF_SCOPE_FILES:
        with open(path, encoding="utf-8") as handle:
            lines += [line.strip() for line in handle if line.strip()]
    return lines


def _uncalibrated_ece(model: IntentClassifier, heldout: Examples) -> float:
    from nlp.intents import expected_calibration_error, softmax

    index = {label: i for i, label in enumerate(model.labels)}
    known = [i for i, label in enumerate(heldout[1]) if label in index]
    probs = softmax(model.logits([heldout[0][i] for i in known]))
    targets = np.array([index[heldout[1][i]] for i in known])
    return round(expected_calibration_error(probs, targets), 4)


def run_frozen_encoder(train: Examples, heldout: Examples) -> dict[str, Any]:
    """No fine-tuning: frozen MiniLM sentence embeddings + logistic regression (C=10)."""
    from sklearn.linear_model import LogisticRegression

    from retrieval.embedding import shared_encoder

    log(f"training frozen MiniLM + LR on {len(train[0])} examples ...")
    encoder = shared_encoder()
    start = time.perf_counter()
    vectors = encoder.encode(list(train[0]))
    model = LogisticRegression(C=10.0, max_iter=2000, class_weight="balanced").fit(
        vectors, train[1]
    )
    seconds = time.perf_counter() - start
    predicted = list(model.predict(encoder.encode(list(heldout[0]))))
    report = classification_report(heldout[1], predicted, sorted(set(train[1])))
    return {
        "method": "MiniLM frozen + LR",
        "train_examples": len(train[0]),
        "train_seconds": round(seconds, 1),
        "accuracy": report["accuracy"],
        "macro_f1": report["macro_f1"],
        "heldout": report,
    }


def run_baseline(train: Examples, heldout: Examples) -> dict[str, Any]:
    from nlp.baselines import TfidfLogRegIntentBaseline

    log(f"training TF-IDF + LR on {len(train[0])} examples ...")
    start = time.perf_counter()
    baseline = TfidfLogRegIntentBaseline().fit(*train)
    seconds = time.perf_counter() - start
    report = classification_report(heldout[1], baseline.predict(heldout[0]), baseline.labels)
    return {
        "method": "TF-IDF + LR",
        "train_examples": len(train[0]),
        "train_seconds": round(seconds, 1),
        "accuracy": report["accuracy"],
        "macro_f1": report["macro_f1"],
        "chosen_c": baseline.chosen_c,
        "validation_macro_f1_by_c": baseline.validation_macro_f1,
        "speed": asdict(measure_speed(baseline.predict, heldout[0])),
        "heldout": report,
    }


def time_steps(steps: int = 50) -> list[dict[str, Any]]:
    """Fine-tuning steps of batch 16 on the demo training texts, timed under the CPU levers: length
    buckets, lower layers frozen, and one thread under ``nice`` as the training worker runs
    (each setting in its own process, so that niceness and threads don't leak)."""
    import subprocess
    import sys

    base = {"texts": "demo", "batch": 16, "max_length": 64}
    settings = [
        {**base, "threads": 2, "buckets": 1, "freeze": 0, "nice": 0},
        {**base, "threads": 2, "buckets": 50, "freeze": 0, "nice": 0},
        {**base, "threads": 2, "buckets": 50, "freeze": 3, "nice": 0},
        {**base, "threads": 2, "buckets": 50, "freeze": 5, "nice": 0},
        {**base, "threads": 2, "buckets": 50, "freeze": 3, "nice": 0, "batch": 32},
        {**base, "threads": 1, "buckets": 50, "freeze": 0, "nice": 10},
        {**base, "threads": 1, "buckets": 50, "freeze": 3, "nice": 10},
        # Reviews run longer than chat messages: what max_length costs there.
        {**base, "texts": "reviews", "threads": 2, "buckets": 50, "freeze": 0, "nice": 0},
        {
            **base,
            "texts": "reviews",
            "threads": 2,
            "buckets": 50,
            "freeze": 0,
            "nice": 0,
            "max_length": 144,
        },
    ]
    rows = []
    for setting in settings:
        log(f"timing {steps} steps: {setting}")
        done = subprocess.run(
            [sys.executable, "-m", "bench.intents", "--_step-worker", json.dumps(setting)],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        )
        rows.append({**setting, **json.loads(done.stdout.strip().splitlines()[-1])})
    return rows


def _step_worker(spec: str, steps: int = 50, warmup: int = 5) -> None:
    """One ``time_steps`` setting, in this process: prints one JSON line."""
    import torch
    from transformers import AutoTokenizer

    from nlp.intents import _build_network, _freeze_lower_layers, _logits, _pad, _training_batches
    from retrieval.embedding import base_model_path

    setting = json.loads(spec)
    if setting["nice"]:
        os.nice(setting["nice"])
    torch.set_num_threads(setting["threads"])
    if setting["texts"] == "reviews":
        from bench.sentiment import load_own_reviews
        from nlp.sentiment import rating_label

        reviews = load_own_reviews()
        texts, labels = reviews.train_texts, [rating_label(r) for r in reviews.train_ratings]
    else:
        texts, labels = load_examples(DEMO_TRAIN)
    names = sorted(set(labels))
    targets = np.array([names.index(label) for label in labels])
    tokenizer = AutoTokenizer.from_pretrained(str(base_model_path()), local_files_only=True)
    max_length = setting["max_length"]
    encoded = tokenizer(list(texts), truncation=True, max_length=max_length)["input_ids"]
    network = _build_network(MEAN_POOL, str(base_model_path()), len(names))
    _freeze_lower_layers(network, setting["freeze"])
    optimizer = torch.optim.AdamW([p for p in network.parameters() if p.requires_grad], lr=5e-5)
    rng = np.random.default_rng(0)
    config = IntentTrainingConfig(length_buckets=setting["buckets"], batch_size=setting["batch"])
    lengths = np.array([len(e) for e in encoded])
    batches = _training_batches(rng.permutation(len(encoded)), lengths, config, rng)
    network.train()
    times, widths = [], []
    for n, batch in enumerate(batches[: steps + warmup]):
        started = time.perf_counter()
        ids, mask = _pad([encoded[i] for i in batch], tokenizer.pad_token_id or 0, "cpu")
        loss = torch.nn.functional.cross_entropy(
            _logits(network, ids, mask), torch.as_tensor(targets[batch])
        )
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if n >= warmup:
            times.append(time.perf_counter() - started)
            widths.append(ids.shape[1])
    print(
        json.dumps(
            {
                "ms_per_step": round(1000 * float(np.mean(times)), 1),
                "ms_per_example": round(1000 * float(np.mean(times)) / setting["batch"], 1),
                "padded_width": round(float(np.mean(widths)), 1),
                "mean_tokens": round(float(lengths.mean()), 1),
            }
        )
    )


def print_steps(rows: Sequence[dict[str, Any]]) -> None:
    headers = [
        "texts", "batch", "max_length", "threads", "nice", "length buckets", "frozen layers",
        "ms / step", "ms / example", "padded width",
    ]  # fmt: skip
    body = [
        [
            r["texts"],
            str(r["batch"]),
            str(r["max_length"]),
            str(r["threads"]),
            str(r["nice"]),
            str(r["buckets"]),
            str(r["freeze"]),
            f"{r['ms_per_step']:.0f}",
            f"{r['ms_per_example']:.1f}",
            f"{r['padded_width']:.1f}",
        ]
        for r in rows
    ]
    print(table(headers, body))


# --- output -----------------------------------------------------------------------------------


def _cell(value: Any, fmt: str = "{:.3f}") -> str:
    return "-" if value is None else fmt.format(value)


def _kept(row: dict[str, Any]) -> str:
    kept = row.get("kept")
    if kept is None:
        return "-"
    return kept.replace("_", "-") + (" +n-grams" if row.get("lexical") else "")


def print_main(rows: Sequence[dict[str, Any]]) -> None:
    headers = [
        "method", "kept", "top-1 acc", "macro-F1", "acc after declining", "train s", "p50 ms",
        "p99 ms", "batch64 msg/s", "threshold", "coverage", "prec@thr", "OOS declined",
    ]  # fmt: skip
    body = []
    for row in rows:
        speed = row.get("speed") or {}
        body.append(
            [
                row["method"],
                _kept(row),
                _cell(row["accuracy"]),
                _cell(row["macro_f1"]),
                _cell(row.get("accuracy_after_declining")),
                _cell(row["train_seconds"], "{:.0f}"),
                _cell(speed.get("p50_ms"), "{:.1f}"),
                _cell(speed.get("p99_ms"), "{:.1f}"),
                _cell(speed.get("batch_per_s"), "{:.0f}"),
                _cell(row.get("threshold"), "{:.2f}"),
                _cell(row.get("coverage")),
                _cell(row.get("accepted_precision")),
                _cell(row.get("out_of_scope_declined")),
            ]
        )
    print(table(headers, body))


def print_training(rows: Sequence[dict[str, Any]]) -> None:
    headers = [
        "method", "epochs", "best", "stopped by", "val score per epoch", "T",
        "ECE val before/after", "held-out ECE raw/cal",
    ]  # fmt: skip
    body = []
    for row in rows:
        t = row["training"]
        body.append(
            [
                row["method"],
                str(t["epochs_run"]),
                str(t["best_epoch"]),
                t["stopped_by"],
                " ".join(f"{e['val_score']:.3f}" for e in t["history"]) or "-",
                f"{t['temperature']:.2f}",
                f"{t['ece_before']:.3f} / {t['ece_after']:.3f}",
                f"{_cell(row.get('heldout_uncalibrated_ece'))} / {_cell(row.get('heldout_ece'))}",
            ]
        )
    print(table(headers, body))


def environment(load_at_start: float) -> dict[str, Any]:
    import torch
    import transformers

    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "transformers": transformers.__version__,
        "load_average_1min_at_start": load_at_start,
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
    }


# --- main -------------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--sets", default=",".join(SETS), help=f"comma-separated, of: {', '.join(SETS)}"
    )
    parser.add_argument("--train", type=Path, help="JSONL or CSV with text,intent (not --sets)")
    parser.add_argument("--heldout", type=Path, help="JSONL or CSV; default: the demo held-out")
    parser.add_argument("--split", type=float, default=0.2, help="held-out share without one")
    parser.add_argument("--compare", action="store_true", help="also train other architectures")
    parser.add_argument("--scale", type=int, default=0, help="time training on N augmented ones")
    parser.add_argument("--scale-only", action="store_true", help="skip the demo comparison")
    parser.add_argument("--max-seconds", type=float, default=APP_MAX_SECONDS)
    parser.add_argument("--max-epochs", type=int, help="override IntentTrainingConfig.max_epochs")
    parser.add_argument("--patience", type=int, help="override IntentTrainingConfig.patience")
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--steps", action="store_true", help="time training steps, CPU levers")
    parser.add_argument("--_step-worker", dest="step_worker", help=argparse.SUPPRESS)
    parser.add_argument(
        "--threads", type=int, default=0, help="torch threads for training (0: one per core)"
    )
    parser.add_argument("--json", action="store_true", help="save bench/results/intents-*.json")
    parser.add_argument(
        "--export",
        type=Path,
        help="write the --scale training set as a text,intent CSV (for import_intents) and stop",
    )
    return parser.parse_args(argv)


def load_sets(args: argparse.Namespace) -> dict[str, tuple[Examples, Examples, str]]:
    """The sets to score: ``--train`` (with ``--heldout`` or a ``--split``), else ``--sets``."""
    if args.train is not None:
        examples = load_examples(args.train)
        if args.heldout is not None:
            source = f"{args.train} / {args.heldout}"
            return {"custom": (examples, load_examples(args.heldout), source)}
        train, heldout = split_examples(examples, args.split, args.seed)
        source = f"{args.train} split {1 - args.split:.0%} / {args.split:.0%}"
        return {"custom": (train, heldout, source)}
    chosen = {}
    for name in args.sets.split(","):
        if name not in SETS:
            raise SystemExit(f"unknown set {name!r}: choose from {', '.join(SETS)}")
        train_path, heldout_path = SETS[name]
        source = f"{train_path.relative_to(ROOT)} / {heldout_path.relative_to(ROOT)}"
        chosen[name] = (load_examples(train_path), load_examples(heldout_path), source)
    return chosen


REGISTERED = "ShopDesk registered (as deployed)"
BASELINES = ("TF-IDF + LR", "MiniLM frozen + LR")


def compare(
    config: IntentTrainingConfig, train: Examples, heldout: Examples, extra: bool
) -> list[dict[str, Any]]:
    """The rows of one set: what ``train_intents`` registers, trained as deployed, its two
    candidates on their own, and the baselines (``extra``: other architectures too)."""
    rows = [
        run_finetuned(REGISTERED, config, train, heldout, speed=True, deployed=True),
        run_finetuned("floor only", replace(config, fine_tune=False), train, heldout, True),
        run_finetuned("fine-tuned only", replace(config, floor=False), train, heldout, False),
        run_baseline(train, heldout),
        run_frozen_encoder(train, heldout),
    ]
    if extra:
        variants = [
            ("fine-tuned, random head", replace(config, floor=False, centroid_init=False)),
            ("MiniLM AutoModelForSeqCls", replace(config, architecture=SEQUENCE_CLASSIFICATION)),
        ]
        for name, variant in variants:
            rows.append(run_finetuned(name, variant, train, heldout, speed=False))
    return rows


def verdict(rows: Sequence[dict[str, Any]]) -> dict[str, bool]:
    """Whether the registered model is at least as good as each baseline on top-1 accuracy and
    on macro-F1, in this run."""
    by_method = {row["method"]: row for row in rows}
    registered = by_method[REGISTERED]
    return {
        f"{name} {measure}": registered[measure] >= by_method[name][measure]
        for name in BASELINES
        if name in by_method
        for measure in ("accuracy", "macro_f1")
    }


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    if args.step_worker:
        _step_worker(args.step_worker)
        return
    if args.steps:
        section("Fine-tuning steps on the demo texts (and the own reviews)")
        print_steps(time_steps())
        return
    load_at_start = os.getloadavg()[0]
    started = time.perf_counter()
    config = IntentTrainingConfig(
        max_seconds=args.max_seconds, seed=args.seed, num_threads=args.threads
    )
    if args.max_epochs:
        config = replace(config, max_epochs=args.max_epochs)
    if args.patience:
        config = replace(config, patience=args.patience)
    results: dict[str, Any] = {"config": asdict(config), "sets": {}}
    if args.export or args.scale_only:
        sets = {"demo": (load_examples(DEMO_TRAIN), load_examples(DEMO_HELDOUT), "demo")}
    else:
        sets = load_sets(args)
    if args.export:
        train = sets["demo"][0]
        export_csv(args.export, scaled_examples(train, args.scale or len(train[0]), args.seed))
        return
    if not args.scale_only:
        for name, (train, heldout, source) in sets.items():
            log(
                f"{name} ({source}): {len(train[0])} train, {len(heldout[0])} held-out, "
                f"{len(set(train[1]))} intents"
            )
            rows = compare(config, train, heldout, args.compare)
            results["sets"][name] = {
                "data": source,
                "train": len(train[0]),
                "heldout": len(heldout[0]),
                "intents": len(set(train[1])),
                "rows": rows,
                "registered_at_least_baselines": verdict(rows),
            }
    if args.scale:
        train, heldout, _ = sets.get("demo") or next(iter(sets.values()))
        scaled = scaled_examples(train, args.scale, args.seed)
        row = run_finetuned(
            f"registered, {args.scale:,} augmented (as deployed)",
            replace(config, architecture=MEAN_POOL),
            scaled,
            heldout,
            speed=False,
            deployed=True,
        )
        results["scale"] = row

    results["environment"] = environment(load_at_start)
    results["environment"]["load_average_1min_at_end"] = os.getloadavg()[0]
    results["run_seconds"] = round(time.perf_counter() - started, 1)
    for name, result in results["sets"].items():
        section(f"Intents, {name}: {result['data']}")
        print(
            f"{result['train']} training / {result['heldout']} held-out examples, "
            f"{result['intents']} intents; budget {config.max_seconds:.0f} s; "
            f"{len(out_of_scope())} out-of-scope messages"
        )
        print()
        print_main(result["rows"])
        print()
        print_training([r for r in result["rows"] if "training" in r])
        verdicts = result["registered_at_least_baselines"]
        missed = [k for k, ok in verdicts.items() if not ok]
        print(
            "\nregistered >= every baseline (top-1 accuracy, macro-F1): "
            + ("yes" if not missed else "NO: " + ", ".join(missed))
        )
    if "scale" in results:
        section("Training at scale")
        print_main([results["scale"]])
        print()
        print_training([results["scale"]])
    env = results["environment"]
    print(
        f"\n{env['cpus']} CPUs, torch {env['torch']} ({env['torch_threads']} threads), "
        f"load average {env['load_average_1min_at_start']:.2f} -> "
        f"{env['load_average_1min_at_end']:.2f}; run {results['run_seconds']:.0f} s; "
        f"as deployed: nice {deployed_nice()}, {deployed_threads()} torch thread(s)"
    )
    if args.json:
        RESULTS.mkdir(parents=True, exist_ok=True)
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        path = RESULTS / f"intents-{stamp}.json"
        path.write_text(json.dumps(results, indent=2, default=str))
        log(f"wrote {path}")


if __name__ == "__main__":
    main()
