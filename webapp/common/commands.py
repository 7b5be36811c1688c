"""Shared command-line handling for the import commands."""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Callable
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from webapp.common.importing import FORMATS, ImportFileError, ImportReport, parse_column_map
from webapp.stores.selectors import store_get_by_slug


class ImportCommand(BaseCommand):
    """``FILE --store SLUG [--map target=source ...] [--format csv|jsonl] [--json]``."""

    def add_arguments(self, parser):
        parser.add_argument("file", type=Path)
        parser.add_argument("--store", required=True, help="store slug")
        parser.add_argument(
            "--map",
            action="append",
            default=[],
            metavar="TARGET=SOURCE",
            help="read field TARGET from column SOURCE (repeatable)",
        )
        parser.add_argument("--format", choices=FORMATS, help="default: from the file extension")
        parser.add_argument("--json", action="store_true", help="print the report as JSON")

    def run_import(self, importer: Callable[..., ImportReport], options: dict) -> None:
        store = store_get_by_slug(slug=options["store"])
        if store is None:
            raise CommandError(f"Unknown store {options['store']!r}")
        try:
            column_map = parse_column_map(options["map"])
            report = importer(
                store=store, path=options["file"], column_map=column_map, fmt=options["format"]
            )
        except ImportFileError as exc:
            raise CommandError(str(exc)) from None
        if options["json"]:
            self.stdout.write(json.dumps(report.as_dict()))
            return
        for error in report.errors:
            self.stderr.write(f"{options['file']}: {error}")
        style = self.style.SUCCESS if not report.errors else self.style.WARNING
        self.stdout.write(style(f"{store.slug}: {report.summary()}"))


def read_texts(path: Path) -> list[str]:
    """One text a line, or the ``text`` column of a CSV; blank ones are skipped."""
    if not path.is_file():
        raise CommandError(f"no such file: {path}")
    with path.open(encoding="utf-8-sig", errors="replace", newline="") as handle:
        if path.suffix.lower() == ".csv":
            reader = csv.DictReader(handle)
            if "text" not in (reader.fieldnames or []):
                raise CommandError(f"{path.name} has no 'text' column")
            texts = [row["text"].strip() for row in reader if (row.get("text") or "").strip()]
        else:
            texts = [line.strip() for line in handle if line.strip()]
    if not texts:
        raise CommandError(f"{path.name} has no texts")
    return texts


class TrainCommand(BaseCommand):
    """``--store SLUG [--max-seconds S] [--max-epochs N] [--if-none-live]``: train one of a
    store's models, with progress on stderr, a one-line verdict on stderr, and a final stdout
    line of JSON ``{"version", "metrics", "promoted"}``.

    Training goes through ``model_train_now`` (the same pipeline as the schedule: lease,
    hygiene, frozen evaluation set, gate). Subclasses set ``kind`` (a ``ModelKind``) and
    implement ``summary(metrics)``, the metrics part of the verdict line."""

    kind: str

    def add_arguments(self, parser):
        parser.add_argument("--store", required=True, help="store slug")
        parser.add_argument("--max-seconds", type=float, help="time budget for the training loop")
        parser.add_argument(
            "--max-epochs",
            type=int,
            help="at most this many epochs of fine-tuning; 0: the floor alone (a linear head on "
            "the frozen encoder, about a minute)",
        )
        parser.add_argument(
            "--if-none-live",
            action="store_true",
            help=f"do nothing when the store already has a live {self.kind} model (for scripts)",
        )

    def summary(self, metrics: dict, live_metrics: dict | None) -> str:
        raise NotImplementedError

    def train(self, store, *, max_seconds, max_epochs, progress):  # type: ignore[no-untyped-def]
        """``(version number, metrics, promoted, verdict)``; ``CommandError`` for data that
        can't train."""
        from webapp.mlops.training import TrainingDataError, model_train_now

        try:
            outcome = model_train_now(
                store=store,
                kind=self.kind,
                max_seconds=max_seconds,
                max_epochs=max_epochs,
                progress=progress,
            )
        except TrainingDataError as exc:
            raise CommandError(str(exc)) from None
        assert outcome.version is not None  # model_train_now raises otherwise
        assert outcome.metrics is not None
        verdict = (
            f"{self.summary(outcome.metrics, outcome.live_metrics)}; "
            f"{outcome.version.promotion.get('reason', '')}"
        )
        return outcome.version.version, outcome.metrics, outcome.promoted, verdict

    def handle(self, *args, **options):
        from webapp.mlops.selectors import model_version_live

        store = store_get_by_slug(slug=options["store"])
        if store is None:
            raise CommandError(f"Unknown store {options['store']!r}")
        live = model_version_live(store_id=store.id, kind=self.kind)
        if options["if_none_live"] and live is not None:
            self.stderr.write(
                f"{store.slug}: {self.kind} model v{live.version} is live; not training"
            )
            self._final(live.version, live.metrics, promoted=False)
            return
        version, metrics, promoted, verdict = self.train(
            store,
            max_seconds=options["max_seconds"],
            max_epochs=options["max_epochs"],
            progress=self.progress,
        )
        self.stderr.write(f"{store.slug}: v{version} {verdict}")
        self._final(version, metrics, promoted=promoted)

    def _final(self, version: int, metrics: dict, *, promoted: bool) -> None:
        self.stdout.write(
            json.dumps({"version": version, "metrics": metrics, "promoted": promoted})
        )

    def progress(self, event) -> None:  # type: ignore[no-untyped-def]
        if event.kind == "epoch":
            line = (
                f"epoch {event.epoch}/{event.max_epochs}: val accuracy "
                f"{event.val_accuracy:.3f}, macro-F1 {event.val_macro_f1:.3f} "
                f"({event.elapsed_s:.0f} s)"
            )
        else:
            line = (
                f"epoch {event.epoch} step {event.step}/{event.total_steps} loss "
                f"{event.loss:.3f} elapsed {event.elapsed_s:.0f} s eta {event.eta_s:.0f} s"
            )
        self.stderr.write(line)
        sys.stderr.flush()
