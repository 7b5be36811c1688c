import json

from django.core.management.base import BaseCommand, CommandError
from django_celery_beat.models import PeriodicTask

from webapp.mlops.models import ModelKind
from webapp.mlops.schedules import training_schedule_trigger
from webapp.stores.selectors import store_get_by_slug


class Command(BaseCommand):
    help = (
        "Send a store's scheduled retraining now, as beat would (to the training queue, or "
        "in-process in the embedded default). Unchanged data is skipped by the task itself."
    )

    def add_arguments(self, parser):
        parser.add_argument("--store", required=True, help="store slug")
        parser.add_argument("--kind", choices=ModelKind.values, required=True)

    def handle(self, *args, **options):
        store = store_get_by_slug(slug=options["store"])
        if store is None:
            raise CommandError(f"Unknown store {options['store']!r}")
        try:
            task_id = training_schedule_trigger(store=store, kind=options["kind"])
        except PeriodicTask.DoesNotExist:
            raise CommandError(
                f"{store.slug} has no {options['kind']} schedule; run ensure_training_schedules"
            ) from None
        self.stdout.write(json.dumps({"task_id": task_id}))
