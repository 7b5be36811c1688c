"""Reviews in the admin: a merchant sees and writes only their store's reviews."""

import pytest

from tests.factories import make_product, make_store
from webapp.reviews.models import Review, ReviewSource
from webapp.stores.services import store_user_upsert

pytestmark = pytest.mark.django_db


@pytest.fixture
def stores():
    acme, other = make_store(slug="acme"), make_store(slug="other")
    lamp, rival = make_product(acme, "A-1", "Acme lamp"), make_product(other, "O-1", "Rival lamp")
    Review.objects.create(store=acme, product=lamp, rating=5, title="Acme glows", source="demo")
    foreign = Review.objects.create(
        store=other, product=rival, rating=1, title="Rival flickers", source="demo"
    )
    return {"acme": acme, "lamp": lamp, "rival": rival, "foreign": foreign}


def _login(client, store, role):
    result = store_user_upsert(store=store, username=f"{role}-1", password="pw-1234567", role=role)
    client.force_login(result.user)


def _form(store, product, **fields):
    return {
        "store": store.id,
        "product": product.id,
        "rating": 4,
        "title": "Nice",
        "body": "",
        "author_name": "Mia",
        "created_at_0": "2026-05-01",
        "created_at_1": "10:00:00",
        "external_id": "",
        **fields,
    }


def test_merchant_sees_only_own_reviews_and_adds_one(client, stores):
    _login(client, stores["acme"], "merchant")
    listing = client.get("/admin/reviews/review/")
    assert listing.status_code == 200
    assert b"Acme glows" in listing.content
    assert b"Rival flickers" not in listing.content
    assert client.get(f"/admin/reviews/review/{stores['foreign'].id}/change/").status_code == 302

    response = client.post("/admin/reviews/review/add/", _form(stores["acme"], stores["lamp"]))
    assert response.status_code == 302, response.content[:2000]
    added = Review.objects.get(title="Nice")
    assert (added.source, added.store, added.sentiment) == (ReviewSource.ADMIN, stores["acme"], "")


def test_another_stores_product_or_an_empty_review_is_refused(client, stores):
    _login(client, stores["acme"], "merchant")
    foreign = client.post("/admin/reviews/review/add/", _form(stores["acme"], stores["rival"]))
    assert foreign.status_code == 200
    assert b"Select a valid choice" in foreign.content
    empty = client.post(
        "/admin/reviews/review/add/", _form(stores["acme"], stores["lamp"], title="", body="")
    )
    assert b"A review needs a title or a body." in empty.content
    assert not Review.objects.filter(store=stores["acme"]).exclude(title="Acme glows").exists()


def test_agents_do_not_see_reviews(client, stores):
    _login(client, stores["acme"], "agent")
    assert client.get("/admin/reviews/review/").status_code == 403
