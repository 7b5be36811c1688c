"""Guessing API keys and flooding the review API are cut off with a JSON 429."""

from __future__ import annotations

import itertools
import json

import pytest

from tests.factories import make_product, make_store
from webapp.reviews.models import Review
from webapp.stores.services import api_key_create

pytestmark = pytest.mark.django_db
URL = "/api/stores/acme/reviews/"
GOOD = {"sku": "KET-1", "rating": 5, "body": "Boils fast."}
_addresses = (f"198.51.100.{n}" for n in itertools.count(1))  # TEST-NET-2, one per test


@pytest.fixture
def key():
    acme = make_store(slug="acme")
    make_product(acme, "KET-1", "Glass kettle")
    return api_key_create(store=acme, name="storefront")[1]


def _post(client, key, ip, body=GOOD):
    return client.post(
        URL,
        data=json.dumps(body),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {key}",
        REMOTE_ADDR=ip,
    )


def test_wrong_keys_from_one_address_are_cut_off_even_before_the_right_one(client, key, settings):
    settings.API_BAD_KEYS_PER_MINUTE_PER_IP = 5
    guesser, shop = next(_addresses), next(_addresses)
    answers = [_post(client, f"sdk_guess_{n}", guesser).status_code for n in range(7)]
    assert answers == [401] * 5 + [429] * 2
    locked_out = _post(client, key, guesser)
    assert locked_out.status_code == 429
    assert locked_out.json()["error"] == "rate_limited"
    # The storefront's own address is not affected.
    assert _post(client, key, shop).status_code == 201


def test_reviews_per_key_are_limited_per_minute(client, key, settings):
    settings.API_REVIEWS_PER_MINUTE_PER_KEY = 3
    ip = next(_addresses)
    answers = [_post(client, key, ip, {**GOOD, "body": f"Boils fast {n}."}) for n in range(5)]
    assert [a.status_code for a in answers] == [201, 201, 201, 429, 429]
    assert answers[-1].json()["error"] == "rate_limited"
    assert Review.objects.count() == 3
