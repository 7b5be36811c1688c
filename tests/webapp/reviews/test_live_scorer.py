"""The scorer's name always matches the model that scores: reviews are labelled by the version
that really scored them, even when the live version's files are refused."""

from __future__ import annotations

import shutil

import pytest

from tests.factories import make_live_sentiment_model, make_store
from webapp.mlops.models import ModelKind
from webapp.mlops.services import model_version_promote, model_version_register
from webapp.reviews.selectors import sentiment_scorer_live

pytestmark = pytest.mark.django_db


def test_a_damaged_live_version_is_not_named_while_the_previous_one_scores():
    store = make_store()
    first = make_live_sentiment_model(store)
    name, model = sentiment_scorer_live(store_id=store.id)
    assert name == "sentiment v1"

    second = model_version_register(
        store=store,
        kind=ModelKind.SENTIMENT,
        save=lambda directory: shutil.copytree(first.path, directory),
        metrics={},
        training_examples=1,
        heldout_examples=0,
        training_seconds=0,
    )
    model_version_promote(version_id=second.id)
    (second.path / "meta.json").write_text("{}")  # damaged after it went live

    name_after, model_after = sentiment_scorer_live(store_id=store.id)
    assert (name_after, model_after) == ("sentiment v1", model)
