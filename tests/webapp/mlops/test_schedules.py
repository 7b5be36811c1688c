"""Per-store retraining schedules (django-celery-beat), the retrain and
ensure_training_schedules commands, and the retrain_model task run in-process."""

from __future__ import annotations

import json

import pytest
from django.core.management import CommandError, call_command
from django_celery_beat.models import CrontabSchedule, PeriodicTask

from tests.factories import make_store
from webapp.mlops.models import ModelKind, RunState, TrainingRun
from webapp.mlops.schedules import RETRAIN_TASK, schedule_name, training_schedules_ensure
from webapp.mlops.training import TrainingOutcome
from webapp.stores.services import store_create
from workers import tasks

pytestmark = pytest.mark.django_db


@pytest.fixture
def eager_tasks():
    """Run Celery tasks in this process even when a broker is configured: these tests are
    about what the task does; tests/integration has the real worker."""
    from workers import app

    saved = app.conf.task_always_eager, app.conf.task_eager_propagates
    app.conf.task_always_eager = app.conf.task_eager_propagates = True
    yield
    app.conf.task_always_eager, app.conf.task_eager_propagates = saved


@pytest.fixture
def nice_calls(monkeypatch):
    calls: list[int] = []
    monkeypatch.setattr(tasks.os, "nice", calls.append)
    monkeypatch.setattr(tasks, "_priority_lowered", False)
    return calls


@pytest.fixture
def fake_model_train(monkeypatch):
    """Stands in for the training pipeline (tested in test_training.py): records its kwargs."""
    calls: list[dict] = []

    def model_train(**kwargs):
        calls.append(kwargs)
        run = TrainingRun.objects.create(
            store_id=kwargs["store_id"],
            kind=kwargs["kind"],
            trigger=kwargs["trigger"],
            state=RunState.SKIPPED,
            reason="no new data since run 1",
        )
        return TrainingOutcome(run)

    monkeypatch.setattr("webapp.mlops.training.model_train", model_train)
    return calls


def _crontab(task: PeriodicTask) -> str:
    c = task.crontab
    return f"{c.minute} {c.hour} {c.day_of_month} {c.month_of_year} {c.day_of_week}"


def test_store_create_schedules_both_models_on_the_training_queue(settings):
    settings.TRAINING_SCHEDULE_INTENT = "15 1 * * *"
    settings.TRAINING_SCHEDULE_SENTIMENT = "45 4 * * 1"
    store = store_create(slug="acme", name="Acme")

    tasks_by_kind = {
        json.loads(task.kwargs)["kind"]: task for task in PeriodicTask.objects.order_by("name")
    }
    assert set(tasks_by_kind) == {"intent", "sentiment"}
    for kind, crontab in [("intent", "15 1 * * *"), ("sentiment", "45 4 * * 1")]:
        task = tasks_by_kind[kind]
        assert task.name == schedule_name(store, kind)
        assert task.task == RETRAIN_TASK
        assert task.queue == "training"
        assert task.enabled
        assert _crontab(task) == crontab
        assert json.loads(task.kwargs) == {
            "store_id": store.id,
            "kind": kind,
            "trigger": "schedule",
        }


def test_ensuring_again_creates_nothing_and_keeps_an_edited_crontab():
    store = store_create(slug="acme", name="Acme")
    edited = PeriodicTask.objects.get(name=schedule_name(store, ModelKind.INTENT))
    edited.crontab = CrontabSchedule.objects.create(minute="0", hour="5")
    edited.enabled = False
    edited.save()

    assert training_schedules_ensure(store=store) == []
    assert PeriodicTask.objects.count() == 2
    edited.refresh_from_db()
    assert (edited.crontab.minute, edited.crontab.hour, edited.enabled) == ("0", "5", False)


def test_ensure_training_schedules_command_adds_only_the_missing_ones(capsys):
    older = make_store(slug="older")  # made before stores had schedules
    newer = store_create(slug="newer", name="Newer")
    PeriodicTask.objects.filter(name=schedule_name(newer, ModelKind.SENTIMENT)).delete()
    kept = PeriodicTask.objects.get(name=schedule_name(newer, ModelKind.INTENT))

    call_command("ensure_training_schedules")

    assert "3 schedule(s) created" in capsys.readouterr().out
    assert set(PeriodicTask.objects.values_list("name", flat=True)) == {
        schedule_name(store, kind) for store in (older, newer) for kind in ModelKind.values
    }
    assert PeriodicTask.objects.get(name=kept.name).id == kept.id


def test_retrain_command_runs_the_scheduled_task_in_process(
    eager_tasks, fake_model_train, nice_calls, capsys
):
    store = store_create(slug="acme", name="Acme")

    call_command("retrain", "--store", "acme", "--kind", "intent")

    assert json.loads(capsys.readouterr().out)["task_id"]
    (call,) = fake_model_train
    assert call["store_id"] == store.id
    assert call["kind"] == "intent"
    assert call["trigger"] == "schedule"
    assert call["force"] is False
    assert call["num_threads"] == 0  # in-process: the default, not the workers' setting
    assert call["task_id"]
    assert nice_calls == []  # never lowers the priority of the process it runs in


def test_retrain_command_refuses_an_unknown_store_or_a_missing_schedule(fake_model_train):
    with pytest.raises(CommandError, match="Unknown store 'nope'"):
        call_command("retrain", "--store", "nope", "--kind", "intent")
    make_store(slug="plain")
    with pytest.raises(CommandError, match="no sentiment schedule"):
        call_command("retrain", "--store", "plain", "--kind", "sentiment")
    assert fake_model_train == []


def test_retrain_model_task_in_process_reports_the_run_and_keeps_its_priority(
    eager_tasks, nice_calls
):
    store = make_store()  # no examples: the pipeline itself refuses to train

    result = tasks.retrain_model.delay(store_id=store.id, kind="intent").get()

    assert result["state"] == "skipped"
    assert "at least two intents" in result["reason"]
    run = TrainingRun.objects.get(store=store)
    assert (run.state, run.trigger) == (RunState.SKIPPED, "schedule")
    assert nice_calls == []

    gone = tasks.retrain_model.delay(store_id=store.id + 1000, kind="intent").get()
    assert gone == {"store_id": store.id + 1000, "state": "skipped", "reason": "no such store"}


def test_retrain_model_in_a_worker_lowers_its_priority_once(settings, fake_model_train, nice_calls):
    settings.TRAINING_NICE = 7
    store = make_store()

    # Called directly, as a worker process runs it (not eager).
    first = tasks.retrain_model(store_id=store.id, kind="intent")
    tasks.retrain_model(store_id=store.id, kind="intent")

    assert first["state"] == RunState.SKIPPED
    assert nice_calls == [7]
    assert [call["num_threads"] for call in fake_model_train] == [
        settings.TRAINING_WORKER_THREADS
    ] * 2
