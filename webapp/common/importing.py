"""Reading merchant exports (CSV or JSONL) row by row, with line numbers for every problem.

A broken row never stops an import: it is reported as ``line N: reason`` and the good rows are
kept. Domain apps turn each record into a row with their own validation.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.db import transaction

from webapp.common.text import text_storable

FORMATS = ("csv", "jsonl")
_EXTENSIONS = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "jsonl"}


class RowInvalid(ValueError):
    """A record that can't be imported; the message is shown to the merchant."""


class ImportFileError(ValueError):
    """The file as a whole can't be read (missing, unknown format, no header)."""


@dataclass(frozen=True)
class Record:
    line: int
    values: dict[str, Any]


@dataclass(frozen=True)
class RowError:
    line: int
    reason: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.reason}"


@dataclass
class ImportReport:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    errors: list[RowError] = field(default_factory=list)

    @property
    def rejected(self) -> int:
        return len(self.errors)

    def count(self, outcome: str) -> None:
        setattr(self, outcome, getattr(self, outcome) + 1)

    def summary(self) -> str:
        return (
            f"created {self.created}, updated {self.updated}, unchanged {self.unchanged}, "
            f"rejected {self.rejected}"
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "created": self.created,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "rejected": self.rejected,
            "errors": [{"line": e.line, "reason": e.reason} for e in self.errors],
        }


def parse_column_map(pairs: list[str] | None) -> dict[str, str]:
    """``["name=title", ...]`` (target=source column) to a dict; malformed pairs raise."""
    mapping: dict[str, str] = {}
    for pair in pairs or []:
        target, sep, source = pair.partition("=")
        if not sep or not target.strip() or not source.strip():
            raise ImportFileError(f"--map expects target=source_column, got {pair!r}")
        mapping[target.strip()] = source.strip()
    return mapping


def detect_format(path: Path, explicit: str | None = None) -> str:
    if explicit:
        if explicit not in FORMATS:
            raise ImportFileError(f"unknown format {explicit!r}; use csv or jsonl")
        return explicit
    fmt = _EXTENSIONS.get(path.suffix.lower())
    if fmt is None:
        raise ImportFileError(
            f"can't tell the format of {path.name}: use a .csv or .jsonl file or --format"
        )
    return fmt


def read_records(
    path: Path, *, fmt: str | None = None, column_map: Mapping[str, str] | None = None
) -> Iterator[Record | RowError]:
    """Yield each data row as a ``Record`` (keys renamed by ``column_map``) or a ``RowError``."""
    path = Path(path)
    if not path.is_file():
        raise ImportFileError(f"no such file: {path}")
    kind = detect_format(path, fmt)
    # Undecodable bytes become U+FFFD so one bad row can be rejected while the rest import.
    with open(path, encoding="utf-8-sig", errors="replace", newline="") as handle:
        reader = _read_csv if kind == "csv" else _read_jsonl
        for item in reader(handle):
            if isinstance(item, RowError):
                yield item
                continue
            if any(isinstance(v, str) and "\ufffd" in v for v in item.values.values()):
                yield RowError(item.line, "not valid UTF-8 text")
                continue
            yield Record(item.line, _rename(item.values, column_map or {}))


def _rename(values: dict[str, Any], column_map: Mapping[str, str]) -> dict[str, Any]:
    if not column_map:
        return values
    renamed = dict(values)
    sources = set(column_map.values())
    for source in sources:
        renamed.pop(source, None)
    for target, source in column_map.items():
        if source in values:
            renamed[target] = values[source]
    return renamed


def _read_csv(handle: io.TextIOBase) -> Iterator[Record | RowError]:
    reader = csv.reader(handle)
    try:
        header = next(reader)
    except StopIteration:
        raise ImportFileError("the file is empty (no header row)") from None
    except csv.Error as exc:
        raise ImportFileError(f"line 1: unreadable header: {exc}") from None
    header = [name.strip() for name in header]
    if not any(header):
        raise ImportFileError("line 1: the header row is empty")
    duplicates = {name for name in header if name and header.count(name) > 1}
    if duplicates:
        raise ImportFileError(f"line 1: duplicate columns: {', '.join(sorted(duplicates))}")
    next_line = reader.line_num + 1
    while True:
        start = next_line
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            next_line = reader.line_num + 1
            yield RowError(start, f"malformed CSV: {exc}")
            continue
        next_line = reader.line_num + 1
        if not row or all(not cell.strip() for cell in row):
            continue
        if len(row) != len(header):
            yield RowError(start, f"expected {len(header)} columns, found {len(row)}")
            continue
        yield Record(start, {name: cell for name, cell in zip(header, row, strict=True) if name})


def _read_jsonl(handle: io.TextIOBase) -> Iterator[Record | RowError]:
    for number, line in enumerate(handle, start=1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError as exc:
            yield RowError(number, f"invalid JSON: {exc.msg} at column {exc.colno}")
            continue
        if not isinstance(value, dict):
            yield RowError(number, f"expected a JSON object, found {type(value).__name__}")
            continue
        yield Record(number, value)


def run_import(
    records: Iterator[Record | RowError],
    apply: Callable[[Record], str],
    *,
    report: ImportReport | None = None,
) -> ImportReport:
    """Apply each record (``apply`` returns created/updated/unchanged or raises RowInvalid)."""
    report = report or ImportReport()
    for item in records:
        if isinstance(item, RowError):
            report.errors.append(item)
            continue
        try:
            # A savepoint per row: a row failing in the database doesn't undo the good ones.
            with transaction.atomic():
                outcome = apply(item)
        except RowInvalid as exc:
            report.errors.append(RowError(item.line, str(exc)))
            continue
        report.count(outcome)
    return report


def text_field(values: Mapping[str, Any], name: str, *, required: bool, max_length: int) -> str:
    raw = values.get(name)
    text = "" if raw is None else text_storable(str(raw)).strip()
    if required and not text:
        raise RowInvalid(f"{name} is required")
    if len(text) > max_length:
        raise RowInvalid(f"{name} is longer than {max_length} characters")
    return text
