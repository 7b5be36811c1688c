"""Prometheus metrics and structured logs with request and conversation ids."""

from __future__ import annotations

import json
import logging

import pytest

from tests.factories import make_model_version, make_product, make_small_kb, make_store
from webapp.chat.services import bot_reply, conversation_open, shopper_message_post
from webapp.common.observability import (
    REPLIES,
    ContextFilter,
    JsonFormatter,
    conversation_id_var,
    request_id_var,
)
from webapp.kb.services import search_index_build
from webapp.mlops.services import model_version_promote
from webapp.reviews.models import Review

pytestmark = pytest.mark.django_db


def _metrics(client, **headers) -> tuple[int, str]:
    response = client.get("/metrics", **headers)
    return response.status_code, response.content.decode()


def test_metrics_show_replies_live_models_and_scoring_lag(client, encoder):
    store = make_store(slug="acme")
    make_small_kb(store)
    search_index_build(store_id=store.id)
    model_version_promote(version_id=make_model_version(store, b"1", kind="sentiment").id)
    Review.objects.create(
        store=store, product=make_product(store, "K-1", "Kettle"), rating=1, body="Bad.",
        source="api",
    )  # fmt: skip
    conversation_id = conversation_open(store=store, token=None).conversation_id
    before = REPLIES.labels(action="faq")._value.get()
    posted = shopper_message_post(
        conversation_id=conversation_id, text="how long does shipping take?"
    )
    bot_reply(
        conversation_id=conversation_id, message_id=posted.message.id, raw_text=posted.raw_text
    )
    assert REPLIES.labels(action="faq")._value.get() == before + 1

    status, body = _metrics(client)
    assert status == 200
    assert 'shopdesk_chat_replies_total{action="faq"}' in body
    assert "shopdesk_chat_reply_seconds_bucket" in body
    assert 'shopdesk_live_model_version{kind="sentiment",store="acme"} 1.0' in body
    assert 'shopdesk_reviews_unscored{store="acme"} 1.0' in body
    assert 'shopdesk_review_scoring_lag_seconds{store="acme"}' in body


def test_metrics_need_the_token_or_a_loopback_client(client, settings):
    assert _metrics(client, REMOTE_ADDR="203.0.113.5")[0] == 403
    settings.METRICS_TOKEN = "s3cret-token"
    assert _metrics(client)[0] == 401
    assert _metrics(client, HTTP_AUTHORIZATION="Bearer wrong")[0] == 401
    assert (
        _metrics(client, HTTP_AUTHORIZATION="Bearer s3cret-token", REMOTE_ADDR="203.0.113.5")[0]
        == 200
    )


def test_the_request_id_is_taken_or_made_and_echoed(client):
    assert client.get("/healthz", HTTP_X_REQUEST_ID="req-42")["X-Request-ID"] == "req-42"
    made = client.get("/healthz")["X-Request-ID"]
    assert len(made) == 32
    assert client.get("/healthz", HTTP_X_REQUEST_ID="x" * 500)["X-Request-ID"] != "x" * 500


def test_json_logs_carry_the_request_and_conversation_ids():
    request_token = request_id_var.set("req-7")
    conversation_token = conversation_id_var.set(99)
    try:
        record = logging.LogRecord(
            "webapp.chat", logging.INFO, __file__, 1, "reply %s", ("ok",), None
        )
        assert ContextFilter().filter(record)
        line = json.loads(JsonFormatter().format(record))
    finally:
        request_id_var.reset(request_token)
        conversation_id_var.reset(conversation_token)
    assert line["message"] == "reply ok"
    assert (line["request_id"], line["conversation_id"], line["level"]) == ("req-7", 99, "INFO")
