"""The review API answers JSON to every body, however hostile, and loses no review."""

from __future__ import annotations

import json
import threading

import pytest
from django.db import connections
from django.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.factories import make_product, make_store
from webapp.reviews.models import Review
from webapp.stores.services import api_key_create

URL = "/api/stores/acme/reviews/"


@pytest.fixture
def key(db):
    acme = make_store(slug="acme")
    make_product(acme, "KET-1", "Glass kettle")
    return api_key_create(store=acme, name="storefront")[1]


def _post(client, data, key, content_type="application/json"):
    return client.post(
        URL, data=data, content_type=content_type, HTTP_AUTHORIZATION=f"Bearer {key}"
    )


def test_a_3_mb_body_gets_a_json_413(client, key):
    response = _post(client, json.dumps({"sku": "KET-1", "body": "x" * 3_000_000}), key)
    assert response.status_code == 413
    assert response.json()["error"] == "too_large"


def test_json_nested_8000_deep_gets_a_json_400(client, key):
    response = _post(client, "[" * 8000 + "]" * 8000, key)
    assert response.status_code == 400
    assert response.json()["error"] == "malformed_json"


def test_nul_bytes_and_lone_surrogates_are_stored_cleaned(client, key):
    body = '{"sku": "KET-1", "rating": 1, "title": "Bro\\u0000ke", "body": "lid \\ud800 snapped"}'
    response = _post(client, body, key)
    assert response.status_code == 201
    review = Review.objects.get(id=response.json()["id"])
    assert (review.title, review.body) == ("Broke", "lid \ufffd snapped")


@pytest.mark.django_db(transaction=True)
def test_concurrent_posts_of_one_new_external_id_make_one_review(key):
    body = json.dumps({"sku": "KET-1", "rating": 4, "body": "Good kettle", "external_id": "e-1"})
    statuses: list[int] = []
    start = threading.Barrier(4)

    def post() -> None:
        try:
            start.wait()
            statuses.append(_post(Client(), body, key).status_code)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=post) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(statuses)[0] in {200, 201}
    assert set(statuses) <= {200, 201}
    assert len(statuses) == 4
    assert Review.objects.filter(external_id="e-1").count() == 1


_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=12,
)
_review_like = st.fixed_dictionaries(
    {},
    optional={
        "sku": st.one_of(st.just("KET-1"), st.text(max_size=70), st.integers()),
        "rating": st.one_of(st.integers(-3, 9), st.text(max_size=4), st.floats()),
        "title": st.one_of(st.text(max_size=300), _json_values),
        "body": st.one_of(st.text(max_size=500), _json_values),
        "author": st.text(max_size=120),
        "created_at": st.one_of(st.text(max_size=30), st.datetimes().map(str)),
        "external_id": st.text(max_size=110),
    },
)
_bodies = st.one_of(
    _review_like.map(json.dumps),
    _json_values.map(json.dumps),
    st.binary(max_size=300),
    st.text(max_size=300),
)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(body=_bodies)
def test_every_body_gets_a_json_answer_and_no_server_error(client, key, body):
    response = _post(client, body, key)
    assert response.status_code in {200, 201, 400, 413, 415}
    answer = response.json()
    if response.status_code in {200, 201}:
        assert Review.objects.filter(id=answer["id"]).exists()
    else:
        assert answer["error"]
