"""/healthz and /readyz: a process is up at once, and ready only when what it serves is warm."""

from __future__ import annotations

import threading
import time

import pytest

from tests.factories import make_small_kb, make_store
from webapp.common import readiness
from webapp.kb.runtime import live_knowledge_bases
from webapp.kb.services import search_index_build

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def fresh_readiness(settings):
    settings.WARMUP_ON_START = True
    readiness.readiness_reset()
    yield
    readiness.readiness_reset()


def _wait_ready(timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not readiness.readiness().ready:
        assert time.monotonic() < deadline, readiness.readiness().as_dict()
        time.sleep(0.05)


def test_healthz_answers_while_readyz_waits_for_the_warmup_then_both_answer(
    client, fresh_readiness, encoder, monkeypatch
):
    store = make_store(slug="acme", name="Acme")
    make_small_kb(store)
    index = search_index_build(store_id=store.id).index
    live_knowledge_bases.clear()
    hold = threading.Event()
    # A warmer that takes as long as the test wants, standing in for a slow model load.
    monkeypatch.setattr(readiness, "_warmers", [*readiness._warmers])
    readiness.warmer_register("slow model", lambda: hold.wait(30), roles={readiness.WEB})

    assert readiness.warmup_start(readiness.WEB)
    assert not readiness.warmup_start(readiness.WEB)  # once per process
    assert client.get("/healthz").status_code == 200
    warming = client.get("/readyz")
    assert warming.status_code == 503
    assert warming.json()["status"] == "warming"

    assert not readiness.readiness_wait(0.05)  # a chat turn arriving now waits for it
    hold.set()
    assert readiness.readiness_wait(120)
    _wait_ready()
    ready = client.get("/readyz")
    assert ready.status_code == 200
    body = ready.json()
    assert body["status"] == "ready"
    assert body["failed"] == {}
    assert {"encoder and chat helpers", "search indexes", "slow model"} <= set(body["warmed"])
    # The index was loaded by the warm-up, not left for the first shopper.
    assert live_knowledge_bases.loaded_index_id(store.id) == index.id


def test_a_failing_warmer_is_reported_and_the_process_still_becomes_ready(
    client, fresh_readiness, monkeypatch
):
    def broken() -> None:
        raise OSError("model folder unreadable")

    monkeypatch.setattr(readiness, "_warmers", [])
    readiness.warmer_register("broken model", broken, roles={readiness.WEB})
    readiness.warmer_register("worker only", lambda: None, roles={readiness.WORKER})
    readiness.warmup_start(readiness.WEB, background=False)
    body = client.get("/readyz").json()
    assert body["status"] == "ready"
    assert body["failed"] == {"broken model": "OSError: model folder unreadable"}
    assert body["warmed"] == []  # the worker's warmer is not a web process's business


def test_a_process_that_never_warms_is_ready_and_warmup_can_be_switched_off(client, settings):
    readiness.readiness_reset()
    settings.WARMUP_ON_START = False
    assert not readiness.warmup_start(readiness.WEB)
    assert client.get("/readyz").status_code == 200
