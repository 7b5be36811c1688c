"""Staff see and edit only their own stores' rows in the admin."""

import pytest

from tests.factories import make_faq, make_product, make_store
from webapp.stores.services import store_user_upsert

pytestmark = pytest.mark.django_db


@pytest.fixture
def two_stores():
    acme, other = make_store(slug="acme"), make_store(slug="other")
    return {
        "acme_product": make_product(acme, "A-1", "Acme lamp"),
        "other_product": make_product(other, "O-1", "Other lamp"),
        "acme_faq": make_faq(acme, "Acme question?", "Yes."),
        "other_faq": make_faq(other, "Other question?", "No."),
        "acme": acme,
    }


def _login(client, store, role):
    result = store_user_upsert(store=store, username=f"{role}-1", password="pw-1234567", role=role)
    client.force_login(result.user)


def test_merchant_sees_and_edits_only_own_products(client, two_stores):
    _login(client, two_stores["acme"], "merchant")
    listing = client.get("/admin/catalog/product/")
    assert listing.status_code == 200
    assert b"Acme lamp" in listing.content
    assert b"Other lamp" not in listing.content
    own = client.get(f"/admin/catalog/product/{two_stores['acme_product'].id}/change/")
    assert own.status_code == 200
    foreign = client.get(f"/admin/catalog/product/{two_stores['other_product'].id}/change/")
    assert foreign.status_code == 302  # the admin redirects a hidden object to the index
    assert (
        client.get(
            f"/admin/catalog/faqentry/{two_stores['other_faq'].id}/change/", follow=True
        ).redirect_chain[-1][0]
        == "/admin/"
    )


def test_agent_can_view_but_not_change_the_catalog(client, two_stores):
    _login(client, two_stores["acme"], "agent")
    assert client.get("/admin/catalog/faqentry/").status_code == 200
    response = client.post(
        f"/admin/catalog/faqentry/{two_stores['acme_faq'].id}/change/",
        {"store": two_stores["acme"].id, "question": "Changed?", "answer": "x"},
    )
    assert response.status_code == 403
    assert client.get("/admin/catalog/product/add/").status_code == 403
