"""Scoring reviews: the store's live scorer, idempotent batches, queued after commits."""

from __future__ import annotations

import pytest
from django.core.management import call_command

from tests.factories import make_live_sentiment_model, make_product, make_store
from webapp.reviews.models import Review, Sentiment
from webapp.reviews.selectors import sentiment_scorer_live
from webapp.reviews.services import reviews_import, reviews_score

pytestmark = pytest.mark.django_db


@pytest.fixture
def store():
    return make_store(slug="acme")


@pytest.fixture
def reviews(store):
    kettle = make_product(store, "KET-1", "Glass kettle")
    texts = [
        ("Love it", "Boils fast and looks wonderful.", 5),
        ("Broken", "Awful. It leaked on day one and the courier was rude.", 1),
        ("Kettle", "It is a kettle, it heats water.", 3),
    ]
    return [
        Review.objects.create(
            store=store, product=kettle, rating=r, title=t, body=b, source="import"
        )
        for t, b, r in texts
    ]


def _ids(rows):
    return [review.id for review in rows]


def test_lexicon_scores_a_batch_once(reviews):
    result = reviews_score(review_ids=_ids(reviews))
    assert (result.scored, result.skipped) == (3, 0)
    loved, broken, fine = (Review.objects.get(id=r.id) for r in reviews)
    assert (loved.sentiment, broken.sentiment, fine.sentiment) == (
        Sentiment.POSITIVE, Sentiment.NEGATIVE, Sentiment.NEUTRAL,
    )  # fmt: skip
    assert loved.sentiment_score > 0 > broken.sentiment_score
    assert broken.aspects["delivery"] < 0
    assert {r.scored_by for r in (loved, broken, fine)} == {"vader"}
    first_scored = loved.scored_at

    # A redelivered batch (a worker died before acknowledging it) changes nothing.
    again = reviews_score(review_ids=_ids(reviews))
    assert (again.scored, again.skipped) == (0, 3)
    assert Review.objects.get(id=loved.id).scored_at == first_scored
    forced = reviews_score(review_ids=_ids(reviews), force=True)
    assert forced.scored == 3


def test_deleted_and_meanwhile_edited_reviews_are_skipped(reviews, monkeypatch):
    gone = reviews[2]
    gone.delete()
    _, scorer = sentiment_scorer_live(store_id=reviews[0].store_id)
    original = scorer.predict

    def predict_while_someone_edits(texts):
        Review.objects.filter(id=reviews[0].id).update(body="Edited: now it leaks.")
        return original(texts)

    monkeypatch.setattr(scorer, "predict", predict_while_someone_edits)
    result = reviews_score(review_ids=_ids(reviews))
    assert (result.scored, result.skipped) == (1, 2)
    assert Review.objects.get(id=reviews[0].id).scored_at is None  # its own task rescoring it
    assert Review.objects.get(id=reviews[1].id).sentiment == Sentiment.NEGATIVE


@pytest.mark.usefixtures("eager_tasks")
def test_import_queues_scoring_after_commit(store, tmp_path, django_capture_on_commit_callbacks):
    make_product(store, "MUG-2", "Mug")
    path = tmp_path / "r.csv"
    path.write_text(
        "sku,rating,title,body\n"
        + "".join(f"MUG-2,5,Review {n},Wonderful mug number {n}\n" for n in range(70))
    )
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        report = reviews_import(store=store, path=path)
    assert report.created == 70
    assert len(callbacks) == 1  # one hook queueing two tasks (64 + 6), run eagerly here
    assert Review.objects.filter(scored_at__isnull=True).count() == 0
    assert set(Review.objects.values_list("sentiment", flat=True)) == {Sentiment.POSITIVE}


@pytest.mark.usefixtures("eager_tasks")
def test_rescore_command_requeues_every_review(reviews, capsys, django_capture_on_commit_callbacks):
    reviews_score(review_ids=_ids(reviews))
    before = Review.objects.get(id=reviews[0].id).scored_at
    with django_capture_on_commit_callbacks(execute=True):
        call_command("rescore_reviews", "--store", "acme")
    assert "acme: queued 3 reviews in 1 tasks" in capsys.readouterr().out
    assert Review.objects.get(id=reviews[0].id).scored_at > before


def test_a_live_fine_tuned_model_takes_over_from_the_lexicon(store, reviews):
    make_live_sentiment_model(store, max_epochs=2)

    name, scorer = sentiment_scorer_live(store_id=store.id)
    assert name == "sentiment v1"
    assert scorer.classifier.labels == ("negative", "neutral", "positive")
    reviews_score(review_ids=_ids(reviews))
    assert set(Review.objects.values_list("scored_by", flat=True)) == {"sentiment v1"}
