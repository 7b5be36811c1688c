from django.core.management.base import BaseCommand

from webapp.mlops.schedules import training_schedules_ensure
from webapp.stores.models import Store


class Command(BaseCommand):
    help = (
        "Create each store's missing retraining schedules (periodic tasks for beat); existing "
        "ones, edited in the admin or not, are left as they are."
    )

    def handle(self, *args, **options):
        created = 0
        for store in Store.objects.all():
            names = training_schedules_ensure(store=store)
            created += len(names)
            for name in names:
                self.stdout.write(f"created {name!r}")
        self.stdout.write(f"{created} schedule(s) created")
