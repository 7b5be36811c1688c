"""POST /api/stores/<slug>/reviews/: API keys per store, JSON errors by field, 201 with the id."""

from __future__ import annotations

import json

import pytest

from tests.factories import make_product, make_store
from webapp.reviews.models import Review, ReviewSource, Sentiment
from webapp.stores.services import api_key_create, api_key_revoke

pytestmark = pytest.mark.django_db

URL = "/api/stores/acme/reviews/"
NOWHERE = "/api/stores/nowhere/reviews/"
GOOD = {"sku": "KET-1", "rating": 5, "title": "Lovely", "body": "Boils fast, looks great."}


@pytest.fixture
def keys():
    acme, other = make_store(slug="acme"), make_store(slug="other")
    make_product(acme, "KET-1", "Glass kettle")
    make_product(other, "TENT-9", "Tent")
    return {"acme": api_key_create(store=acme, name="storefront")[1],
            "other": api_key_create(store=other, name="storefront")[1],
            "acme_row": acme.api_keys.get()}  # fmt: skip


def _post(client, body, key=None, url=URL, content_type="application/json", **headers):
    if key:
        headers["HTTP_AUTHORIZATION"] = f"Bearer {key}"
    data = body if isinstance(body, (str, bytes)) else json.dumps(body)
    return client.post(url, data=data, content_type=content_type, **headers)


@pytest.mark.usefixtures("eager_tasks")
def test_a_review_is_created_scored_and_updated_by_external_id(
    client, keys, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = _post(client, {**GOOD, "external_id": "shop-77", "author": "Ana"}, keys["acme"])
    assert response.status_code == 201
    body = response.json()
    review = Review.objects.get(id=body["id"])
    assert body["status"] == "created"
    assert (review.source, review.author_name, review.rating) == (ReviewSource.API, "Ana", 5)
    assert review.sentiment == Sentiment.POSITIVE  # scored on commit (eager tasks here)

    again = _post(client, {**GOOD, "external_id": "shop-77", "rating": 4}, keys["acme"])
    assert (again.status_code, again.json()["status"]) == (200, "updated")
    assert Review.objects.count() == 1
    via_header = _post(client, GOOD, HTTP_X_API_KEY=keys["acme"])
    assert via_header.status_code == 201
    assert keys["acme_row"].__class__.objects.get(id=keys["acme_row"].id).last_used_at


def test_keys_work_only_for_their_own_store(client, keys):
    cases = [
        (_post(client, GOOD), 401, "missing_api_key"),
        (_post(client, GOOD, "sdk_nope_nope"), 401, "invalid_api_key"),
        (_post(client, GOOD, keys["other"]), 403, "wrong_store"),
        (_post(client, GOOD, keys["acme"], url=NOWHERE), 404, "unknown_store"),
    ]  # fmt: skip
    for response, status, code in cases:
        assert (response.status_code, response.json()["error"]) == (status, code)
    api_key_revoke(key_id=keys["acme_row"].id)
    assert _post(client, GOOD, keys["acme"]).status_code == 401
    assert not Review.objects.exists()


def test_bad_requests_get_a_clear_json_error(client, keys):
    key = keys["acme"]
    assert client.get(URL).json()["error"] == "method_not_allowed"
    assert client.get(URL).status_code == 405
    cases = [
        (_post(client, "{not json", key), 400, "malformed_json"),
        (_post(client, "[1, 2]", key), 400, "malformed_json"),
        (_post(client, "sku=KET-1", key, content_type="text/plain"), 415, "unsupported_media_type"),
        (_post(client, {**GOOD, "body": "x" * 70_000}, key), 413, "too_large"),
    ]  # fmt: skip
    for response, status, code in cases:
        assert (response.status_code, response.json()["error"]) == (status, code)
        assert response.json()["message"]


def test_invalid_fields_are_named(client, keys):
    response = _post(
        client,
        {"sku": "TENT-9", "rating": 7, "title": "", "created_at": "yesterday", "colour": "red"},
        keys["acme"],
    )
    assert response.status_code == 400
    errors = response.json()["errors"]
    assert errors["sku"] == ["unknown sku 'TENT-9'"]  # another store's product
    assert "from 1 to 5" in errors["rating"][0]
    assert "not a date" in errors["created_at"][0]
    assert errors["body"] == ["a review needs a title or a body"]
    assert errors["__all__"] == ["Unknown fields: colour."]
    missing = _post(client, {"body": "No sku or rating"}, keys["acme"]).json()["errors"]
    assert missing["sku"] == ["sku is required"]
    assert missing["rating"] == ["rating is required"]
    assert not Review.objects.exists()
