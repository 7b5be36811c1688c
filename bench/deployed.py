"""Train a model the way the training worker does: in its own process, niced, on few threads.

The Celery training worker runs ``os.nice(TRAINING_NICE)`` and trains on
``TRAINING_WORKER_THREADS`` torch threads (``workers.tasks``), so that chat keeps the CPU.
``bench.intents`` and ``bench.sentiment`` time the registered model that way: the job (texts,
labels, the training config) goes to a child process, which trains, saves the model and reports
its wall time; the parent loads the saved model and scores it like any other row.

The defaults are the app's (``TRAINING_NICE`` 10, ``TRAINING_WORKER_THREADS`` cores - 1), read
from the same environment variables.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from nlp.intents import IntentClassifier, IntentTrainingConfig

ROOT = Path(__file__).resolve().parent.parent


def deployed_nice() -> int:
    return int(os.environ.get("TRAINING_NICE", 10))


def deployed_threads() -> int:
    return int(os.environ.get("TRAINING_WORKER_THREADS", max(1, (os.cpu_count() or 2) - 1)))


@dataclass(frozen=True)
class Deployed:
    model: IntentClassifier
    seconds: float  # the training call's wall time in the child
    nice: int
    threads: int

    @property
    def training(self) -> dict[str, Any]:
        """The saved training record (``meta.json``'s ``training``: chosen, selection, ...)."""
        return dict(self.model.meta.get("training", {}))


def train_as_deployed(
    texts: Sequence[str], labels: Sequence[str], config: IntentTrainingConfig
) -> Deployed:
    """Train ``train_intent_classifier(texts, labels, config)`` in a niced child process on
    the worker's thread count; returns the saved model, loaded back."""
    nice, threads = deployed_nice(), deployed_threads()
    with tempfile.TemporaryDirectory(prefix="bench-deployed-") as scratch:
        job = Path(scratch) / "job.json"
        out = Path(scratch) / "model"
        job.write_text(
            json.dumps(
                {
                    "texts": list(texts),
                    "labels": list(labels),
                    "config": asdict(config),
                    "nice": nice,
                    "threads": threads,
                    "out": str(out),
                }
            )
        )
        subprocess.run([sys.executable, "-m", "bench.deployed", str(job)], cwd=ROOT, check=True)
        seconds = json.loads((Path(scratch) / "seconds.json").read_text())["seconds"]
        model = IntentClassifier.load(out, device="cpu")
    return Deployed(model, seconds, nice, threads)


def _config(values: dict[str, Any]) -> IntentTrainingConfig:
    tuples = {f.name for f in fields(IntentTrainingConfig) if str(f.type).startswith("tuple")}
    return IntentTrainingConfig(**{k: tuple(v) if k in tuples else v for k, v in values.items()})


def _child(job_path: Path) -> None:
    from nlp.intents import train_intent_classifier

    job = json.loads(job_path.read_text())
    if job["nice"]:
        os.nice(job["nice"])
    config = _config({**job["config"], "num_threads": job["threads"]})
    started = time.perf_counter()
    model = train_intent_classifier(job["texts"], job["labels"], config)
    seconds = round(time.perf_counter() - started, 1)
    model.save(Path(job["out"]))
    (job_path.parent / "seconds.json").write_text(json.dumps({"seconds": seconds}))


if __name__ == "__main__":
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    _child(Path(sys.argv[1]))
