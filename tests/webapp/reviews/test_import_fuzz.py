"""Any CSV row gets a place in the import report: kept, or rejected with its line; nothing
raises and no good row is lost because of a bad one."""

from __future__ import annotations

import csv
import io

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.factories import make_product, make_store
from webapp.reviews.models import Review
from webapp.reviews.services import reviews_import

pytestmark = pytest.mark.django_db

COLUMNS = ["sku", "rating", "title", "body", "author", "created_at", "external_id"]
_cell = st.one_of(
    st.text(alphabet=st.characters(codec="utf-8"), max_size=60),
    st.sampled_from(["KET-1", "5", "1", "0", "6", "2026-11-30", "", "=1+1", "\x00"]),
)
_row = st.lists(_cell, min_size=0, max_size=9)  # short, exact and over-long rows
GOOD = ["KET-1", "4", "Solid", "Boils fast.", "Ana", "2026-11-01", ""]


@pytest.fixture
def store():
    store = make_store(slug="acme")
    make_product(store, "KET-1", "Glass kettle")
    return store


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(rows=st.lists(_row, max_size=8), at=st.integers(0, 8))
def test_every_row_is_kept_or_reported_and_good_rows_survive(store, tmp_path, rows, at):
    Review.objects.all().delete()
    rows = list(rows)
    rows.insert(min(at, len(rows)), GOOD)  # one row that must always be kept
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(COLUMNS)
    writer.writerows(rows)
    path = tmp_path / "reviews.csv"
    path.write_text(buffer.getvalue(), encoding="utf-8")

    report = reviews_import(store=store, path=path)

    assert report.created + report.updated + report.unchanged + report.rejected >= 1
    assert Review.objects.filter(store=store, title="Solid", body="Boils fast.").exists()
    lines = [error.line for error in report.errors]
    assert all(isinstance(line, int) and line >= 2 for line in lines)
    stored = Review.objects.values_list("title", "body", "author_name")
    assert not any("\x00" in text for row in stored for text in row)
