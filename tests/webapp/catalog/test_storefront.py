import pytest

from tests.factories import make_faq, make_product, make_store


@pytest.mark.django_db
def test_storefront_pages_render_with_the_widget(client):
    store = make_store(slug="acme", name="Acme Goods")
    product = make_product(
        store, "KET-1", "Glass kettle", category="Kitchen", attributes={"colour": "clear"}
    )
    entry = make_faq(store, "How long does shipping take?", "Two days.")
    home = client.get("/s/acme/")
    assert home.status_code == 200
    assert b"Glass kettle" in home.content
    assert b'data-ws-path="/ws/chat/acme/"' in home.content
    assert b"/static/chat/widget.js" in home.content
    page = client.get(product.get_absolute_url())
    assert b"clear" in page.content
    faq = client.get("/s/acme/faq/")
    assert f'id="faq-{entry.id}"'.encode() in faq.content


@pytest.mark.django_db
def test_unknown_store_and_product_are_404(client):
    make_store(slug="acme")
    assert client.get("/s/nope/").status_code == 404
    assert client.get("/s/acme/p/NOPE/").status_code == 404


@pytest.mark.django_db
def test_widget_assets_are_served_locally(client):
    response = client.get("/static/chat/widget.js")
    assert response.status_code == 200
    body = b"".join(response.streaming_content)
    assert b"WebSocket" in body
