"""Shared command-line handling for the import commands."""

from __future__ import annotations

import csv
import json
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
