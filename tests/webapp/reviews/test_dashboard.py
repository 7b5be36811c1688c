"""The merchant dashboard: figures against a hand-counted store, filters, CSV, isolation."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest
from django.contrib.staticfiles import finders
from django.utils import timezone

from tests.factories import make_product, make_store
from webapp.reviews.models import Review, ReviewAspect, Sentiment
from webapp.stores.services import store_user_upsert

pytestmark = pytest.mark.django_db


def _review(store, product, days, rating, sentiment, score, aspects=None, text="text"):
    # The view measures its periods from its own timezone.now(); ``shop`` pins the clock, so
    # "days ago" here and there agree whenever the test runs.
    now = timezone.now()
    review = Review.objects.create(
        store=store,
        product=product,
        rating=rating,
        title=text,
        body="",
        source="demo",
        created_at=now - timedelta(days=days),
        sentiment=sentiment,
        sentiment_score=score,
        aspects=aspects or {},
        scored_at=now,
        scored_by="vader",
    )
    for aspect, polarity in (aspects or {}).items():
        ReviewAspect.objects.create(
            review=review,
            store=store,
            product=product,
            aspect=aspect,
            polarity=polarity,
            created_at=review.created_at,
        )
    return review


@pytest.fixture
def shop(pinned_now):
    """Hand-counted: in the last 30 days 5 reviews (kettle 3, mug 2), 2 negative; in the 30
    days before, 2 reviews, 0 negative; one older review outside both."""
    acme = make_store(slug="acme", name="Acme")
    kettle = make_product(acme, "KET-1", "Glass kettle", category="Kitchen")
    mug = make_product(acme, "MUG-2", "Stoneware mug", category="Tableware")
    neg, pos, neu = Sentiment.NEGATIVE, Sentiment.POSITIVE, Sentiment.NEUTRAL
    _review(acme, kettle, 2, 1, neg, -0.8, {"quality": -0.7}, "The kettle leaks badly")
    _review(acme, kettle, 3, 5, neg, -0.4, {"delivery": -0.5}, "Late delivery, great kettle")
    _review(acme, kettle, 10, 4, pos, 0.6, {"quality": 0.5})
    _review(acme, mug, 12, 5, pos, 0.9)
    _review(acme, mug, 20, 3, neu, 0.0, {"price": 0.2})
    _review(acme, mug, 40, 5, pos, 0.8)
    _review(acme, kettle, 45, 4, pos, 0.7)
    _review(acme, kettle, 200, 1, neg, -0.9)
    other = make_store(slug="other", name="Other")
    secret = make_product(other, "SEC-1", "Secret lamp")
    _review(other, secret, 1, 1, neg, -0.9, text="Rival flickers")
    return acme, other


def _login(client, store, role, name=None):
    user = store_user_upsert(
        store=store, username=name or f"{role}-{store.slug}", password="pw-1234567", role=role
    ).user
    client.force_login(user)
    return user


def test_headline_trend_products_and_aspects_match_the_hand_count(client, shop):
    acme, _ = shop
    _login(client, acme, "merchant")
    page = client.get("/dashboard/acme/?period=30")
    assert page.status_code == 200
    head = page.context["headline"]
    assert head["current"]["reviews"] == 5
    assert head["current"]["avg_rating"] == pytest.approx(18 / 5)
    assert head["current"]["negative_share"] == pytest.approx(2 / 5)
    assert head["previous"]["reviews"] == 2
    assert head["change"]["reviews"] == 3
    assert head["change"]["negative_share"] == pytest.approx(0.4)
    assert sum(week["reviews"] for week in page.context["trend"]) == 5
    products = {row["sku"]: row for row in page.context["products"]}
    assert products["KET-1"]["reviews"] == 3
    assert products["KET-1"]["negative_share"] == pytest.approx(2 / 3)
    assert products["MUG-2"]["avg_rating"] == pytest.approx(4.0)
    assert [row["sku"] for row in page.context["worst"]] == ["KET-1"]  # mug: 2 < 3 reviews
    aspects = {row["aspect"]: row for row in page.context["aspects"]}
    assert aspects["quality"]["mentions"] == 2
    assert aspects["quality"]["complaints"] == 1
    assert aspects["delivery"]["complaint_share"] == 1.0
    assert aspects["packaging"]["mentions"] == 0
    assert [r.title for r in page.context["contradictions"]] == ["Late delivery, great kettle"]
    negative = page.context["negative"]
    assert [r.title for r in negative] == ["The kettle leaks badly", "Late delivery, great kettle"]
    html = page.content.decode()
    assert '<mark class="aspect aspect-neg" title="delivery">delivery</mark>' in html
    assert "Rival flickers" not in html
    assert 'src="/static/vendor/plotly.min.js"' in html
    assert finders.find("vendor/plotly.min.js").endswith("plotly.min.js")


def test_filters_narrow_every_figure(client, shop):
    acme, _ = shop
    _login(client, acme, "merchant")
    mugs = client.get("/dashboard/acme/?period=30&product=MUG-2").context
    assert mugs["headline"]["current"]["reviews"] == 2
    assert mugs["headline"]["current"]["negative_share"] == 0
    assert [row["sku"] for row in mugs["products"]] == ["MUG-2"]
    assert {r["aspect"] for r in mugs["aspects"] if r["mentions"]} == {"price"}
    kitchen = client.get("/dashboard/acme/?period=all&category=Kitchen").context
    assert kitchen["headline"]["current"]["reviews"] == 5
    assert kitchen["headline"]["change"]["reviews"] is None  # no "before" for all time
    bogus = client.get("/dashboard/acme/?period=9999").context
    assert bogus["filters"].period == "90"


def test_csv_exports_what_is_shown(client, shop):
    acme, _ = shop
    _login(client, acme, "merchant")
    response = client.get("/dashboard/acme/export/products.csv?period=30")
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert rows[0][:4] == ["sku", "product", "category", "reviews"]
    assert {row[0]: row[3] for row in rows[1:]} == {"KET-1": "3", "MUG-2": "2"}
    negative = list(csv.reader(io.StringIO(
        client.get("/dashboard/acme/export/negative.csv?period=30").content.decode()
    )))  # fmt: skip
    assert len(negative) == 3
    assert negative[1][6] == "quality -0.70"
    assert client.get("/dashboard/acme/export/secrets.csv").status_code == 404


def test_exports_never_carry_a_formula_from_a_review(client, shop):
    """Review text is anyone's: a title like ``=HYPERLINK(...)`` comes out as text."""
    acme, _ = shop
    kettle = acme.products.get(sku="KET-1")
    payloads = ['=HYPERLINK("http://x.example","hi")', "+cmd|' /C calc'!A0", "@SUM(A1)", "-2+3"]
    for payload in payloads:
        _review(acme, kettle, 1, 1, Sentiment.NEGATIVE, -0.9, text=payload)
    _login(client, acme, "merchant")
    body = client.get("/dashboard/acme/export/negative.csv?period=30").content.decode()
    titles = {row[7] for row in csv.reader(io.StringIO(body))}
    assert {"'" + payload for payload in payloads} <= titles
    assert not any(title.startswith(("=", "+", "@", "-")) for title in titles)
    scores = [row[5] for row in csv.reader(io.StringIO(body))][1:]
    assert "-0.900" in scores  # numbers stay numbers


ROUTES = [
    "/dashboard/{slug}/",
    "/dashboard/{slug}/?period=7&category=Kitchen",
    "/dashboard/{slug}/export/trend.csv",
    "/dashboard/{slug}/export/products.csv",
    "/dashboard/{slug}/export/aspects.csv",
    "/dashboard/{slug}/export/contradictions.csv",
    "/dashboard/{slug}/export/negative.csv",
]


@pytest.mark.parametrize("route", ROUTES)
def test_isolation_matrix(client, shop, route, django_user_model):
    acme, other = shop
    own, foreign = route.format(slug="acme"), route.format(slug="other")

    response = client.get(own)  # anonymous: to the login page
    assert response.status_code == 302
    assert "/login/" in response["Location"]

    _login(client, acme, "merchant", "mia")
    assert client.get(own).status_code == 200
    assert client.get(foreign).status_code == 404
    assert b"Rival" not in client.get(own).content

    _login(client, other, "merchant", "bo")
    assert client.get(own).status_code == 404
    assert client.get(foreign).status_code == 200

    _login(client, acme, "agent", "ann")
    assert client.get(own).status_code == 404  # agents work chats, not dashboards

    client.force_login(django_user_model.objects.create_superuser("root", "r@x.example", "pw"))
    assert client.get(own).status_code == 200
    assert client.get(foreign).status_code == 200
    assert client.get(route.format(slug="nowhere")).status_code == 404


def test_index_lists_or_redirects(client, shop):
    acme, other = shop
    user = _login(client, acme, "merchant", "mia")
    assert client.get("/dashboard/")["Location"] == "/dashboard/acme/"
    user = store_user_upsert(
        store=other, username=user.username, password="pw-1234567", role="merchant"
    ).user
    client.force_login(user)  # setting the password again ends the old session
    listing = client.get("/dashboard/")
    assert listing.status_code == 200
    assert b"/dashboard/other/" in listing.content


def test_api_ignores_sessions_whoever_is_logged_in(client, shop, django_user_model):
    """The review API authenticates by store API key only: no admin or merchant session opens
    it, for their own store or another."""
    acme, other = shop
    review = {"sku": "KET-1", "rating": 5, "title": "Sessions don't count"}
    logins = [
        None,
        _login(client, acme, "merchant", "mia"),
        _login(client, other, "merchant", "bo"),
        _login(client, acme, "agent", "ann"),
        django_user_model.objects.create_superuser("root", "r@x.example", "pw"),
    ]
    for user in logins:
        client.logout()
        if user is not None:
            client.force_login(user)
        for slug in ("acme", "other"):
            response = client.post(
                f"/api/stores/{slug}/reviews/", review, content_type="application/json"
            )
            assert (response.status_code, response.json()["error"]) == (401, "missing_api_key")
    assert not Review.objects.filter(title="Sessions don't count").exists()
