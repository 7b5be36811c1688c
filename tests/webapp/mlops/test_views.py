"""The merchant's Models page: versions side by side, promote and roll back through the page,
and who may see or change what (versions are registered by hand here, never trained)."""

from __future__ import annotations

import re

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from tests.factories import make_store
from webapp.mlops.models import (
    ModelEvent,
    ModelEventAction,
    ModelKind,
    ModelVersion,
    RunState,
    RunTrigger,
    TrainingRun,
    VersionState,
)
from webapp.mlops.services import (
    evaluation_set_create,
    evaluation_set_grow,
    model_version_keep_candidate,
    model_version_promote,
    model_version_register,
)
from webapp.stores.services import store_user_upsert

pytestmark = pytest.mark.django_db

NONE = "\N{EN DASH}"  # what the page shows for an empty cell
GATE_V1 = "macro-F1 0.800; nothing serves yet: promoted"
GATE_V2 = "macro-F1 0.781 vs v1 0.800 (tolerance 0.010): 0.019 worse, kept as a candidate"


def _save(directory):
    directory.mkdir(parents=True)
    (directory / "meta.json").write_text("{}")


def _register(store, kind, metrics, **fields):
    values = {
        "training_examples": 100,
        "heldout_examples": 20,
        "training_seconds": 1.0,
        "promotion": {},
    }
    values.update(fields)
    return model_version_register(store=store, kind=kind, save=_save, metrics=metrics, **values)


def _intent_metrics(macro_f1, accuracy, coverage):
    return {
        "without_threshold": {"macro_f1": macro_f1, "accuracy": accuracy},
        "coverage": coverage,
    }


@pytest.fixture
def registry():
    """acme: intent v1 live (made so by the gate), v2 a worse candidate the gate kept back;
    sentiment v1 live with nothing before it. other: one intent version of its own."""
    acme = make_store(slug="acme", name="Acme")
    evaluation_set = evaluation_set_create(
        store=acme,
        kind=ModelKind.INTENT,
        items=[("a", "where is my parcel", "delivery_time"), ("b", "refund", "return_item")],
    )
    evaluation_set_grow(evaluation_set=evaluation_set, items=[("c", "pay by card?", "payment")])
    v1 = _register(
        acme,
        ModelKind.INTENT,
        _intent_metrics(0.8, 0.83, 0.9),
        training_examples=140,
        heldout_examples=37,
        training_seconds=42.3,
        promotion={"candidate": 0.8, "live": None, "promoted": True, "reason": GATE_V1},
        data_counts={"agent_corrections": 2, "duplicates_dropped": 1, "conflicts": 0},
        evaluation_set=evaluation_set,
    )
    model_version_promote(version_id=v1.id, reason=GATE_V1)
    v2 = _register(
        acme,
        ModelKind.INTENT,
        _intent_metrics(0.7812, 0.8456, 0.875),
        training_examples=151,
        heldout_examples=38,
        training_seconds=12.5,
        promotion={"candidate": 0.7812, "live": 0.8, "promoted": False, "reason": GATE_V2},
        data_counts={"agent_corrections": 4, "duplicates_dropped": 3, "conflicts": 1},
        evaluation_set=evaluation_set,
    )
    model_version_keep_candidate(version=v2, reason=GATE_V2)
    sentiment = _register(
        acme, ModelKind.SENTIMENT, {"macro_f1": 0.7071, "accuracy": 0.7333}, heldout_examples=15
    )
    model_version_promote(version_id=sentiment.id)
    TrainingRun.objects.create(
        store=acme,
        kind=ModelKind.INTENT,
        trigger=RunTrigger.SCHEDULE,
        state=RunState.SKIPPED,
        duration_seconds=3.4,
        reason="no new data since run 7",
    )
    other = make_store(slug="other", name="Other")
    foreign = _register(other, ModelKind.INTENT, _intent_metrics(0.1111, 0.2222, 0.3333))
    return acme, other, v1, v2, sentiment, foreign


def _login(client, store, role, name=None):
    user = store_user_upsert(
        store=store, username=name or f"{role}-{store.slug}", password="pw-1234567", role=role
    ).user
    client.force_login(user)
    return user


def _row(html: str, kind: str, version: int) -> str:
    """The HTML of one version's row in the versions table of ``kind``."""
    table = re.search(rf'<table class="data versions" id="versions-{kind}">.*?</table>', html, re.S)
    assert table is not None, f"no {kind} versions table"
    row = re.search(rf'<tr data-version="{version}".*?</tr>', table.group(0), re.S)
    assert row is not None, f"no v{version} row in the {kind} table"
    return row.group(0)


def _cells(row: str) -> list[str]:
    """Each cell's text, tags dropped and whitespace collapsed."""
    cells = re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)
    return [" ".join(re.sub(r"<[^>]+>", " ", cell).split()) for cell in cells]


def _states(*versions: ModelVersion) -> list[str]:
    return [ModelVersion.objects.get(id=v.id).state for v in versions]


def test_page_shows_each_kinds_versions_side_by_side(client, registry):
    acme, _, v1, _, sentiment, _ = registry
    _login(client, acme, "merchant")
    page = client.get("/dashboard/acme/models/")
    assert page.status_code == 200
    html = page.content.decode()

    # Version, state, macro-F1, accuracy, coverage, evaluated on, trained on, data counts,
    # training time, created, promoted, gate reason, action.
    first, second = _cells(_row(html, "intent", 1)), _cells(_row(html, "intent", 2))
    assert first[:9] == [
        "v1", "Live", "0.800", "0.830", "90.0%", "37", "140",
        "agent_corrections: 2 conflicts: 0 duplicates_dropped: 1", "42.3 s",
    ]  # fmt: skip
    assert second[:9] == [
        "v2", "Candidate", "0.781", "0.846", "87.5%", "38", "151",
        "agent_corrections: 4 conflicts: 1 duplicates_dropped: 3", "12.5 s",
    ]  # fmt: skip
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d", first[10])  # promoted at
    assert second[10] == NONE
    assert (first[11], second[11]) == (GATE_V1, GATE_V2)
    assert (first[12], second[12]) == ("", "Promote")  # the live one can't be promoted

    intent, sentiment_view = page.context["overviews"]
    assert [s.version.version for s in intent.versions] == [2, 1]
    assert intent.live == v1
    assert (sentiment_view.live, sentiment_view.versions[0].coverage) == (sentiment, None)
    assert _cells(_row(html, "sentiment", 1))[:6] == ["v1", "Live", "0.707", "0.733", "15", "100"]
    assert "<th>Coverage</th>" not in html.split('id="versions-sentiment"')[1].split("</thead>")[0]

    evaluation_set = re.search(r'id="evaluation-set-intent">(.*?)</p>', html, re.S).group(1)
    assert "<strong>3</strong> examples" in evaluation_set
    assert "Frozen: only grown by hand · 2 changes" in evaluation_set
    assert "No evaluation set yet" in html.split('id="kind-sentiment"')[1]

    runs = re.search(r'id="runs-intent">(.*?)</table>', html, re.S).group(1)
    assert [_cells(row)[1:] for row in re.findall(r"<tr><td>.*?</tr>", runs, re.S)] == [
        ["Schedule", "Skipped", "3.4 s", "no new data since run 7"]
    ]

    events = re.search(r'id="events-intent">(.*?)</table>', html, re.S).group(1)
    assert [_cells(row)[1:] for row in re.findall(r"<tr><td>.*?</tr>", events, re.S)] == [
        ["Kept as candidate", "v2", NONE, "training gate", GATE_V2],
        ["Promoted", "v1", NONE, "training gate", GATE_V1],
    ]

    assert "0.111" not in html  # the other store's version is nowhere
    assert 'href="/dashboard/acme/models/" aria-current="page"' in html


def test_dashboard_nav_links_to_the_models_page(client, registry):
    acme, *_ = registry
    _login(client, acme, "merchant")
    html = client.get("/dashboard/acme/").content.decode()
    assert 'href="/dashboard/acme/models/"' in html
    assert 'href="/dashboard/acme/" aria-current="page"' in html


def test_page_queries_do_not_grow_with_versions_runs_or_events(client, registry):
    acme, _, _, v2, *_ = registry
    _login(client, acme, "merchant")
    with CaptureQueriesContext(connection) as before:
        client.get("/dashboard/acme/models/")
    for _ in range(4):
        version = _register(acme, ModelKind.INTENT, _intent_metrics(0.5, 0.5, 0.5))
        model_version_promote(version_id=version.id, reason="gate")
        TrainingRun.objects.create(store=acme, kind=ModelKind.INTENT, trigger=RunTrigger.COMMAND)
    model_version_promote(version_id=v2.id, actor=_login(client, acme, "merchant"))
    with CaptureQueriesContext(connection) as after:
        page = client.get("/dashboard/acme/models/")
    assert len(page.context["overviews"][0].versions) == 6
    assert len(after.captured_queries) == len(before.captured_queries)


def test_promote_by_post_makes_the_version_live_and_records_the_merchant(client, registry):
    acme, _, v1, v2, *_ = registry
    merchant = _login(client, acme, "merchant", "mia")
    response = client.post(
        f"/dashboard/acme/models/versions/{v2.id}/promote/",
        {"reason": "  better on refunds, whatever the F1 "},
    )
    assert response.status_code == 302
    assert response["Location"] == "/dashboard/acme/models/#kind-intent"
    assert _states(v1, v2) == [VersionState.RETIRED, VersionState.LIVE]
    event = ModelEvent.objects.filter(kind=ModelKind.INTENT).first()
    assert (event.action, event.version_id, event.previous_id) == (
        ModelEventAction.PROMOTED,
        v2.id,
        v1.id,
    )
    assert (event.actor, event.reason) == (merchant, "better on refunds, whatever the F1")

    html = client.get(response["Location"]).content.decode()
    assert '<li class="success">Intent classifier v2 is live.</li>' in html
    events = re.search(r'id="events-intent">(.*?)</table>', html, re.S).group(1)
    assert "<td>mia</td><td>better on refunds, whatever the F1</td>" in events


def test_roll_back_by_post_restores_the_previous_live_version(client, registry):
    acme, _, v1, v2, *_ = registry
    merchant = _login(client, acme, "merchant", "mia")
    client.post(f"/dashboard/acme/models/versions/{v2.id}/promote/")
    assert _states(v1, v2) == [VersionState.RETIRED, VersionState.LIVE]

    response = client.post("/dashboard/acme/models/intent/rollback/", follow=True)
    assert response.redirect_chain == [("/dashboard/acme/models/#kind-intent", 302)]
    assert _states(v1, v2) == [VersionState.LIVE, VersionState.RETIRED]
    event = ModelEvent.objects.filter(kind=ModelKind.INTENT).first()
    assert (event.action, event.version_id, event.previous_id, event.actor) == (
        ModelEventAction.ROLLED_BACK,
        v1.id,
        v2.id,
        merchant,
    )
    assert event.reason == "rolled back from v2"
    assert "Rolled back: Intent classifier v1 is live again." in response.content.decode()


def test_rollback_with_nothing_to_roll_back_shows_why_and_changes_nothing(client, registry):
    acme, _, v1, v2, sentiment, _ = registry
    _login(client, acme, "merchant")
    events = ModelEvent.objects.count()
    response = client.post("/dashboard/acme/models/sentiment/rollback/", follow=True)
    assert response.status_code == 200
    assert '<li class="error">v1 has no earlier live version to roll back to.</li>' in (
        response.content.decode()
    )
    assert _states(v1, v2, sentiment) == [
        VersionState.LIVE,
        VersionState.CANDIDATE,
        VersionState.LIVE,
    ]
    assert ModelEvent.objects.count() == events
    assert client.post("/dashboard/acme/models/translation/rollback/").status_code == 404


def test_promote_and_rollback_refuse_get(client, registry):
    acme, _, v1, v2, *_ = registry
    _login(client, acme, "merchant")
    assert client.get(f"/dashboard/acme/models/versions/{v2.id}/promote/").status_code == 405
    assert client.get("/dashboard/acme/models/intent/rollback/").status_code == 405
    assert _states(v1, v2) == [VersionState.LIVE, VersionState.CANDIDATE]


def test_posts_need_a_csrf_token(registry):
    acme, _, v1, v2, *_ = registry
    client = Client(enforce_csrf_checks=True)
    _login(client, acme, "merchant")
    promote = f"/dashboard/acme/models/versions/{v2.id}/promote/"
    assert client.post(promote).status_code == 403
    assert client.post("/dashboard/acme/models/intent/rollback/").status_code == 403
    assert _states(v1, v2) == [VersionState.LIVE, VersionState.CANDIDATE]

    html = client.get("/dashboard/acme/models/").content.decode()
    form = re.search(rf'<form[^>]*action="{promote}">.*?</form>', html, re.S).group(0)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form).group(1)
    assert client.post(promote, {"csrfmiddlewaretoken": token}).status_code == 302
    assert _states(v1, v2) == [VersionState.RETIRED, VersionState.LIVE]


def test_isolation_matrix(client, registry, django_user_model):
    acme, other, v1, v2, _, foreign = registry
    page = "/dashboard/acme/models/"
    promote = f"/dashboard/acme/models/versions/{v2.id}/promote/"
    rollback = "/dashboard/acme/models/intent/rollback/"
    unchanged = [VersionState.LIVE, VersionState.CANDIDATE]

    for url, method in ((page, client.get), (promote, client.post), (rollback, client.post)):
        response = method(url)  # anonymous: to the login page
        assert response.status_code == 302
        assert "/login/" in response["Location"]
    assert _states(v1, v2) == unchanged

    _login(client, other, "merchant", "bo")
    assert client.get(page).status_code == 404
    assert client.get("/dashboard/other/models/").status_code == 200
    assert client.post(promote).status_code == 404
    assert client.post(rollback).status_code == 404
    # Its own store's URL with acme's version id: still not found.
    assert client.post(f"/dashboard/other/models/versions/{v2.id}/promote/").status_code == 404
    assert _states(v1, v2) == unchanged

    _login(client, acme, "merchant", "mia")
    assert client.post(f"/dashboard/acme/models/versions/{foreign.id}/promote/").status_code == 404
    assert _states(foreign) == [VersionState.CANDIDATE]

    _login(client, acme, "agent", "ann")
    assert client.get(page).status_code == 404  # agents work chats, not dashboards
    assert client.post(promote).status_code == 403
    assert client.post(rollback).status_code == 403
    assert _states(v1, v2) == unchanged

    root = django_user_model.objects.create_superuser("root", "r@x.example", "pw")
    client.force_login(root)
    assert client.get(page).status_code == 200
    assert client.get("/dashboard/nowhere/models/").status_code == 404
    assert client.post(promote).status_code == 302
    assert _states(v1, v2) == [VersionState.RETIRED, VersionState.LIVE]
    assert ModelEvent.objects.filter(kind=ModelKind.INTENT).first().actor == root
