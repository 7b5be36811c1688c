"""Importing reviews: sku matching per store, line-numbered errors, idempotent external ids."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from tests.factories import make_product, make_store
from webapp.reviews.models import Review, ReviewSource, Sentiment
from webapp.reviews.services import created_at_clean, rating_clean, reviews_import

pytestmark = pytest.mark.django_db


@pytest.fixture
def store():
    store = make_store(slug="acme")
    make_product(store, "KET-1", "Glass kettle")
    make_product(store, "MUG-2", "Stoneware mug")
    return store


def test_bad_rows_are_reported_by_line_and_the_good_ones_kept(store, tmp_path):
    other = make_store(slug="other")
    make_product(other, "TENT-9", "Tent")
    future = (timezone.now() + timedelta(days=3)).date().isoformat()
    path = tmp_path / "reviews.csv"
    path.write_text(
        "sku,rating,title,body,author,created_at,external_id\n"
        "KET-1,5,Lovely,Boils fast,Anna,2026-05-01,r1\n"  # line 2: good
        "NOPE-0,4,Hm,Fine,Bo,2026-05-02,r2\n"  # 3: unknown sku
        "TENT-9,4,Hm,Fine,Bo,2026-05-02,r3\n"  # 4: another store's sku
        "MUG-2,0,Bad,Zero stars,Cy,2026-05-02,r4\n"  # 5: rating out of range
        "MUG-2,4.5,Half,Half a star,Cy,,r5\n"  # 6: not whole
        "MUG-2,five,Words,Stars in words,Cy,,r6\n"  # 7: not a number
        "MUG-2,3,When,Sometime,Di,last tuesday,r7\n"  # 8: bad date
        f"MUG-2,3,Later,From the future,Di,{future},r8\n"  # 9: future
        "MUG-2,3,,,Ed,,r9\n"  # 10: no text
        "KET-1,2,Again,Same id as line 2,Fa,,r1\n"  # 11: repeated external id
        "MUG-2,4\n"  # 12: two columns
        "MUG-2,4,Nice mug,,Gus,2026-05-03T08:30:00+02:00,\n"  # good, no external id
    )
    report = reviews_import(store=store, path=path)

    reasons = {error.line: error.reason for error in report.errors}
    assert reasons[3] == "unknown sku 'NOPE-0'"
    assert reasons[4] == "unknown sku 'TENT-9'"
    assert "from 1 to 5" in reasons[5]
    assert "from 1 to 5" in reasons[6]
    assert "not a number" in reasons[7]
    assert "not a date" in reasons[8]
    assert "in the future" in reasons[9]
    assert reasons[10] == "a review needs a title or a body"
    assert reasons[11] == "external_id 'r1' repeats line 2"
    assert reasons[12] == "expected 7 columns, found 2"
    assert report.created == 2
    assert report.rejected == 10
    first = Review.objects.get(external_id="r1")
    assert (first.product.sku, first.rating, first.author_name) == ("KET-1", 5, "Anna")
    assert first.created_at == datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
    assert first.source == ReviewSource.IMPORT
    mug = Review.objects.get(external_id="")
    assert mug.created_at == datetime(2026, 5, 3, 6, 30, tzinfo=UTC)
    assert not Review.objects.filter(store=other).exists()


def test_reimport_by_external_id_is_idempotent_and_a_new_text_is_rescored(store, tmp_path):
    path = tmp_path / "reviews.jsonl"
    row = {"sku": "KET-1", "rating": 4, "title": "Good", "body": "Quick boil", "external_id": "x"}
    path.write_text(json.dumps(row) + "\n")
    assert reviews_import(store=store, path=path).created == 1
    Review.objects.update(
        sentiment=Sentiment.POSITIVE, sentiment_score=0.9, scored_at=timezone.now()
    )

    # Same content (created_at given, so nothing moves): unchanged, the score stays.
    row["created_at"] = "2026-04-01"
    path.write_text(json.dumps(row) + "\n")
    assert reviews_import(store=store, path=path).updated == 1  # the date was "now" before
    assert reviews_import(store=store, path=path).unchanged == 1
    assert Review.objects.get().sentiment == Sentiment.POSITIVE

    # A new rating keeps the score; a new body clears it for the workers.
    row["rating"] = 3
    path.write_text(json.dumps(row) + "\n")
    assert reviews_import(store=store, path=path).updated == 1
    assert Review.objects.get().sentiment == Sentiment.POSITIVE
    row["body"] = "Started leaking after a week"
    path.write_text(json.dumps(row) + "\n")
    assert reviews_import(store=store, path=path).updated == 1
    review = Review.objects.get()
    assert (review.sentiment, review.sentiment_score, review.scored_at) == ("", None, None)
    assert Review.objects.count() == 1


def test_command_with_column_map(store, tmp_path, capsys):
    path = tmp_path / "export.csv"
    path.write_text(
        "article,stars,headline,text,name\nKET-1,5,Great,Love it,Ida\nZZZ,5,Great,Love it,Ida\n"
    )
    call_command(
        "import_reviews",
        str(path),
        "--store",
        "acme",
        "--map",
        "sku=article",
        "--map",
        "rating=stars",
        "--map",
        "title=headline",
        "--map",
        "body=text",
        "--map",
        "author=name",
    )
    out, err = capsys.readouterr()
    assert "acme: created 1, updated 0, unchanged 0, rejected 1" in out
    assert "line 3: unknown sku 'ZZZ'" in err
    assert Review.objects.get().title == "Great"


@pytest.mark.parametrize(
    ("raw", "expected"), [(5, 5), ("4", 4), ("3.0", 3), (" 2 ", 2), ("1,0", 1)]
)
def test_ratings(raw, expected):
    assert rating_clean(raw) == expected


def test_dates():
    now = datetime(2026, 6, 1, 12, tzinfo=UTC)
    assert created_at_clean("", now=now) == now
    assert created_at_clean("2026-05-31 18:00", now=now) == datetime(2026, 5, 31, 18, tzinfo=UTC)
    assert created_at_clean("2026-06-02", now=now) == datetime(2026, 6, 2, 12, tzinfo=UTC)
