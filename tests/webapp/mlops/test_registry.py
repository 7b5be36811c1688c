"""The model registry's services and admin actions: register, promote, roll back, the audit
trail, the one-live rule, hooks after commit, and evaluation-set writes."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from django.db import IntegrityError, transaction
from django.urls import reverse

from tests.factories import make_model_version, make_product, make_store, model_files_writer
from webapp.mlops import services
from webapp.mlops.models import (
    EvaluationPolicy,
    EvaluationSetChange,
    ModelEvent,
    ModelEventAction,
    ModelKind,
    ModelVersion,
    VersionState,
)
from webapp.mlops.services import (
    RegistryError,
    artefact_checksum,
    evaluation_set_create,
    evaluation_set_grow,
    evaluation_set_policy_set,
    model_version_promote,
    model_version_register,
    model_version_rollback,
)
from webapp.reviews.models import Review

pytestmark = pytest.mark.django_db


def _register(store, payload: bytes = b"weights", kind: str = ModelKind.INTENT) -> ModelVersion:
    return make_model_version(store, payload, kind)


@pytest.fixture
def store():
    return make_store(slug="acme")


@pytest.fixture
def admin_user(django_user_model):
    return django_user_model.objects.create_superuser("root", "root@example.com", "pw")


@pytest.fixture
def hook_calls(monkeypatch):
    """A hook registered for this test only (the apps' own hooks are left out)."""
    calls: list[tuple[int, str]] = []
    monkeypatch.setattr(services, "_live_changed_hooks", [])
    services.on_live_version_changed(lambda store_id, kind: calls.append((store_id, kind)))
    return calls


def _live(store, kind=ModelKind.INTENT) -> list[int]:
    return list(
        ModelVersion.objects.filter(store=store, kind=kind, state=VersionState.LIVE).values_list(
            "version", flat=True
        )
    )


def test_register_creates_a_numbered_candidate_with_the_checksum_of_its_folder(store):
    first = _register(store, b"one")
    second = _register(store, b"two")

    assert (first.version, second.version) == (1, 2)
    assert first.state == second.state == VersionState.CANDIDATE
    assert first.directory == f"stores/{store.id}/intent/v000001"
    assert (first.path / "weights" / "model.bin").read_bytes() == b"one"
    assert first.checksum == artefact_checksum(first.path)
    assert first.checksum != second.checksum
    assert first.training_seconds == 1.2
    # Nothing is left in staging folders.
    assert sorted(p.name for p in first.path.parent.iterdir()) == ["v000001", "v000002"]


def test_a_failed_save_leaves_no_version_and_no_staging_folder(store, settings):
    def broken_save(directory: Path) -> None:
        directory.mkdir(parents=True)
        (directory / "half.bin").write_bytes(b"x")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        model_version_register(
            store=store,
            kind=ModelKind.INTENT,
            save=broken_save,
            metrics={},
            training_examples=0,
            heldout_examples=0,
            training_seconds=0,
        )
    assert not ModelVersion.objects.exists()
    folder = Path(settings.MODEL_DIR) / "stores" / str(store.id) / "intent"
    assert list(folder.iterdir()) == []


def test_artefact_checksum_covers_file_names_and_bytes(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    model_files_writer(b"same")(a)
    model_files_writer(b"same")(b)
    assert artefact_checksum(a) == artefact_checksum(b)
    (b / "meta.json").rename(b / "other.json")
    assert artefact_checksum(a) != artefact_checksum(b)


def test_promote_makes_live_retires_the_previous_and_records_who_and_why(store, admin_user):
    first, second = _register(store, b"one"), _register(store, b"two")
    model_version_promote(version_id=first.id)
    promoted = model_version_promote(version_id=second.id, actor=admin_user, reason="better")

    assert promoted.state == VersionState.LIVE
    first.refresh_from_db()
    assert first.state == VersionState.RETIRED
    assert first.retired_at is not None
    assert _live(store) == [2]
    event = ModelEvent.objects.filter(version=second).get()
    assert (event.action, event.previous, event.actor, event.reason) == (
        ModelEventAction.PROMOTED,
        first,
        admin_user,
        "better",
    )
    gate_event = ModelEvent.objects.filter(version=first).get()
    assert (gate_event.previous, gate_event.actor, gate_event.reason) == (
        None,
        None,
        "passed the gate",
    )


def test_promoting_the_live_version_again_records_nothing(store):
    version = _register(store)
    model_version_promote(version_id=version.id)
    model_version_promote(version_id=version.id)
    assert ModelEvent.objects.count() == 1


def test_kinds_are_independent(store):
    intent = _register(store, kind=ModelKind.INTENT)
    sentiment = _register(store, kind=ModelKind.SENTIMENT)
    model_version_promote(version_id=intent.id)
    model_version_promote(version_id=sentiment.id)
    assert _live(store, ModelKind.INTENT) == [1]
    assert _live(store, ModelKind.SENTIMENT) == [1]


def test_the_database_allows_one_live_version_per_store_and_kind(store):
    first, second = _register(store, b"one"), _register(store, b"two")
    other_store_version = _register(make_store(slug="other"))
    model_version_promote(version_id=first.id)
    model_version_promote(version_id=other_store_version.id)  # another store: fine

    with pytest.raises(IntegrityError), transaction.atomic():
        ModelVersion.objects.filter(id=second.id).update(state=VersionState.LIVE)
    assert _live(store) == [1]


def test_rollback_restores_the_previous_live_version_and_records_the_actor(store, admin_user):
    first, second = _register(store, b"one"), _register(store, b"two")
    model_version_promote(version_id=first.id)
    model_version_promote(version_id=second.id)

    restored = model_version_rollback(store_id=store.id, kind=ModelKind.INTENT, actor=admin_user)

    assert restored == first
    assert _live(store) == [1]
    second.refresh_from_db()
    assert second.state == VersionState.RETIRED
    event = ModelEvent.objects.first()  # the newest
    assert (event.action, event.version, event.previous, event.actor, event.reason) == (
        ModelEventAction.ROLLED_BACK,
        first,
        second,
        admin_user,
        "rolled back from v2",
    )


def test_rolling_back_twice_walks_back_through_the_history(store):
    first, second, third = (_register(store, payload) for payload in (b"1", b"2", b"3"))
    for version in (first, second, third):
        model_version_promote(version_id=version.id)

    assert model_version_rollback(store_id=store.id, kind=ModelKind.INTENT) == second
    assert model_version_rollback(store_id=store.id, kind=ModelKind.INTENT) == first
    assert _live(store) == [1]
    with pytest.raises(RegistryError, match="no earlier live version"):
        model_version_rollback(store_id=store.id, kind=ModelKind.INTENT)


def test_rollback_without_an_earlier_version_is_refused(store):
    with pytest.raises(RegistryError, match="no live version"):
        model_version_rollback(store_id=store.id, kind=ModelKind.INTENT)
    only = _register(store)
    model_version_promote(version_id=only.id)
    with pytest.raises(RegistryError, match="no earlier live version"):
        model_version_rollback(store_id=store.id, kind=ModelKind.INTENT)
    assert _live(store) == [1]
    assert ModelEvent.objects.count() == 1


def test_a_version_whose_folder_is_missing_cannot_go_live(store):
    first, second = _register(store, b"one"), _register(store, b"two")
    model_version_promote(version_id=first.id)
    shutil.rmtree(second.path)

    with pytest.raises(RegistryError, match="folder is missing"):
        model_version_promote(version_id=second.id)
    second.refresh_from_db()
    assert second.state == VersionState.CANDIDATE
    assert _live(store) == [1]


def test_live_version_hooks_run_only_after_commit(
    store, hook_calls, django_capture_on_commit_callbacks
):
    version = _register(store)
    with django_capture_on_commit_callbacks(execute=True):
        model_version_promote(version_id=version.id)
        assert hook_calls == []  # still inside the transaction
    assert hook_calls == [(store.id, ModelKind.INTENT)]


def test_live_version_hooks_do_not_run_when_the_promotion_rolls_back(
    store, hook_calls, django_capture_on_commit_callbacks
):
    version = _register(store)

    @transaction.atomic
    def promote_then_fail() -> None:
        model_version_promote(version_id=version.id)
        raise RuntimeError("something after the promotion failed")

    with (
        django_capture_on_commit_callbacks(execute=True) as callbacks,
        pytest.raises(RuntimeError),
    ):
        promote_then_fail()
    assert callbacks == []
    assert hook_calls == []
    assert _live(store) == []


def _admin_action(client, action: str, *ids: int):
    return client.post(
        reverse("admin:mlops_modelversion_changelist"),
        {"action": action, "_selected_action": [str(i) for i in ids]},
        follow=True,
    )


def test_admin_promote_and_roll_back_record_the_superuser(client, store, admin_user):
    first, second = _register(store, b"one"), _register(store, b"two")
    model_version_promote(version_id=first.id)
    client.force_login(admin_user)

    response = _admin_action(client, "promote", second.id)
    assert response.status_code == 200
    assert "v2 is live" in response.content.decode()
    assert _live(store) == [2]
    promoted = ModelEvent.objects.first()
    assert (promoted.action, promoted.version, promoted.actor, promoted.reason) == (
        ModelEventAction.PROMOTED,
        second,
        admin_user,
        "promoted by hand",
    )

    response = _admin_action(client, "roll_back", second.id)
    assert "Rolled back" in response.content.decode()
    assert _live(store) == [1]
    rolled_back = ModelEvent.objects.first()
    assert (rolled_back.action, rolled_back.actor) == (ModelEventAction.ROLLED_BACK, admin_user)


def test_admin_promote_of_several_versions_or_a_broken_one_changes_nothing(
    client, store, admin_user
):
    first, second = _register(store, b"one"), _register(store, b"two")
    client.force_login(admin_user)

    response = _admin_action(client, "promote", first.id, second.id)
    assert "exactly one version" in response.content.decode()
    shutil.rmtree(second.path)
    response = _admin_action(client, "promote", second.id)
    assert "folder is missing" in response.content.decode()
    assert _live(store) == []
    assert not ModelEvent.objects.exists()


# --- Evaluation sets -------------------------------------------------------------------------


def test_evaluation_set_create_grow_and_policy_are_recorded(store, admin_user, settings):
    settings.EVALUATION_SET_POLICY = "frozen"
    evaluation_set = evaluation_set_create(
        store=store,
        kind=ModelKind.INTENT,
        items=[("k1", "hello", "greeting"), ("k2", "track it", "order_status")],
    )
    assert (evaluation_set.size, evaluation_set.policy) == (2, EvaluationPolicy.FROZEN)
    checksum = evaluation_set.checksum
    with pytest.raises(RegistryError, match="already has"):
        evaluation_set_create(store=store, kind=ModelKind.INTENT, items=[])

    # Rows it has already are not added again (nor relabelled).
    assert evaluation_set_grow(evaluation_set=evaluation_set, items=[("k1", "hi", "x")]) == 0
    added = evaluation_set_grow(
        evaluation_set=evaluation_set,
        items=[("k1", "hello", "greeting"), ("k3", "a person", "human_agent")],
        actor=admin_user,
        note="by hand",
    )
    evaluation_set.refresh_from_db()
    assert added == 1
    assert evaluation_set.size == 3
    assert evaluation_set.checksum != checksum

    evaluation_set_policy_set(
        evaluation_set=evaluation_set, policy=EvaluationPolicy.GROW, actor=admin_user
    )
    evaluation_set_policy_set(evaluation_set=evaluation_set, policy=EvaluationPolicy.GROW)
    with pytest.raises(RegistryError, match="Unknown evaluation policy"):
        evaluation_set_policy_set(evaluation_set=evaluation_set, policy="sometimes")

    changes = list(
        EvaluationSetChange.objects.values_list("action", "items_added", "size_after", "actor")
    )
    assert changes == [
        ("created", 2, 2, None),
        ("grown", 1, 3, admin_user.id),
        ("policy", 0, 3, admin_user.id),
    ]
    evaluation_set.refresh_from_db()
    assert evaluation_set.policy == EvaluationPolicy.GROW


def test_a_new_live_sentiment_model_rescores_the_stores_reviews_after_commit(
    store, monkeypatch, django_capture_on_commit_callbacks
):
    requested: list[list[int]] = []
    monkeypatch.setattr(
        "webapp.reviews.services.reviews_request_scoring",
        lambda *, review_ids: requested.append(sorted(review_ids)),
    )
    lamp = make_product(store, "LAMP-1", "Desk lamp")
    ids = [
        Review.objects.create(store=store, product=lamp, rating=r, body="ok", source="demo").id
        for r in (1, 5)
    ]
    intent, sentiment = _register(store), _register(store, kind=ModelKind.SENTIMENT)

    with django_capture_on_commit_callbacks(execute=True):
        model_version_promote(version_id=intent.id)
    assert requested == []  # an intent model scores no reviews

    with django_capture_on_commit_callbacks(execute=True):
        model_version_promote(version_id=sentiment.id)
        assert requested == []
    assert requested == [ids]


def test_in_the_admin_only_a_stores_merchants_change_its_models(client, store):
    """A merchant of one store who is an agent of another has no model powers in the second:
    its versions are not listed, promoting one changes nothing, its pages are not found."""
    from webapp.stores.services import store_user_upsert

    other = make_store(slug="other")
    user = store_user_upsert(store=store, username="mia", password="pw", role="merchant").user
    store_user_upsert(store=other, username="mia", password=None, role="agent")
    own_first, own_second = _register(store, b"1"), _register(store, b"2")
    their_first, their_second = _register(other, b"1"), _register(other, b"2")
    for version in (own_first, their_first):
        model_version_promote(version_id=version.id)
    client.force_login(user)

    listed = client.get(reverse("admin:mlops_modelversion_changelist")).context["cl"]
    assert {v.store_id for v in listed.result_list} == {store.id}
    refused = _admin_action(client, "promote", their_second.id)
    assert "None of the selected rows are in your stores." in refused.content.decode()
    assert _live(other) == [1]
    change = reverse("admin:mlops_modelversion_change", args=[their_second.id])
    assert client.get(change).status_code == 302  # "doesn't exist" for this user

    _admin_action(client, "promote", own_second.id)
    assert _live(store) == [2]
    assert ModelEvent.objects.filter(store=other, actor=user).count() == 0


def test_a_version_whose_files_changed_cannot_go_live(store):
    first, second = _register(store, b"one"), _register(store, b"two")
    model_version_promote(version_id=first.id)
    (second.path / "weights" / "model.bin").write_bytes(b"tampered")
    with pytest.raises(RegistryError, match="damaged"):
        model_version_promote(version_id=second.id)
    model_version_promote(version_id=_register(store, b"three").id)
    (first.path / "meta.json").write_text("{}")
    with pytest.raises(RegistryError, match="damaged"):
        model_version_rollback(store_id=store.id, kind=ModelKind.INTENT)
    assert _live(store) == [3]


def test_expect_live_id_refuses_a_promotion_judged_against_another_live_version(store):
    first, second, third = (_register(store, payload) for payload in (b"1", b"2", b"3"))
    model_version_promote(version_id=first.id)
    model_version_promote(version_id=second.id, expect_live_id=first.id)
    with pytest.raises(services.LiveChanged):
        model_version_promote(version_id=third.id, expect_live_id=first.id)
    assert _live(store) == [2]
