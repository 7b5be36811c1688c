"""Each store's retraining schedules: django-celery-beat periodic tasks, one per model kind.

They are created with the ``TRAINING_SCHEDULE_*`` crontabs when a store is created (or by the
``ensure_training_schedules`` command for existing stores) and are then the operator's to edit,
pause or delete in the admin (Periodic tasks); ensuring again never overwrites an edit.
"""

from __future__ import annotations

import json

from django.conf import settings
from django.db import transaction

from webapp.mlops.models import ModelKind
from webapp.stores.models import Store

RETRAIN_TASK = "workers.tasks.retrain_model"


def schedule_name(store: Store, kind: str) -> str:
    return f"retrain {kind}: {store.slug}"


@transaction.atomic
def training_schedules_ensure(*, store: Store) -> list[str]:
    """Create the store's missing retraining tasks; returns the names created."""
    from django_celery_beat.models import CrontabSchedule, PeriodicTask

    crontabs = {
        ModelKind.INTENT: settings.TRAINING_SCHEDULE_INTENT,
        ModelKind.SENTIMENT: settings.TRAINING_SCHEDULE_SENTIMENT,
    }
    created = []
    for kind, crontab in crontabs.items():
        name = schedule_name(store, kind)
        if PeriodicTask.objects.filter(name=name).exists():
            continue
        minute, hour, day_of_month, month_of_year, day_of_week = crontab.split()
        schedule, _ = CrontabSchedule.objects.get_or_create(
            minute=minute,
            hour=hour,
            day_of_month=day_of_month,
            month_of_year=month_of_year,
            day_of_week=day_of_week,
            timezone=settings.TIME_ZONE,
        )
        PeriodicTask.objects.create(
            name=name,
            task=RETRAIN_TASK,
            crontab=schedule,
            kwargs=json.dumps({"store_id": store.id, "kind": str(kind), "trigger": "schedule"}),
            queue="training",
            description=f"Re-fine-tune {store.name}'s {kind} model on its new data",
        )
        created.append(name)
    return created


def training_schedule_trigger(*, store: Store, kind: str) -> str:
    """Send the store's scheduled retraining now, exactly as beat would; returns the task id."""
    from django_celery_beat.models import PeriodicTask

    import workers.tasks  # noqa: F401 - registers the tasks by name
    from workers import app

    task = PeriodicTask.objects.get(name=schedule_name(store, kind))
    # Through the task object rather than send_task, so the embedded default runs it eagerly.
    result = app.tasks[task.task].apply_async(
        kwargs=json.loads(task.kwargs or "{}"), queue=task.queue or None
    )
    return str(result.id)
