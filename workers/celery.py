"""The Celery app. Settings come from Django's (``CELERY_*``), so the embedded default runs
tasks eagerly in-process and a deployment sets ``CELERY_BROKER_URL`` to use real workers."""

import os

from celery import Celery
from celery.signals import worker_process_init

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "webapp.settings")

app = Celery("shopdesk")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks(["workers"])


@worker_process_init.connect
def _warm_worker_process(**_: object) -> None:
    """Each pool process loads the live sentiment models before its first batch arrives."""
    from webapp.common.readiness import WORKER, warmup_start

    warmup_start(WORKER)
