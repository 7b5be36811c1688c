from django.core.management.base import BaseCommand

from webapp.reviews.alerts import alerts_check


class Command(BaseCommand):
    help = (
        "Check every store's review alert rules now (beat runs the same check every 15 "
        "minutes); new alerts are recorded and emailed."
    )

    def handle(self, *args, **options):
        alerts = alerts_check()
        for alert in alerts:
            self.stdout.write(f"{alert.store_id}: {alert.message}")
        self.stdout.write(f"{len(alerts)} new alert(s)")
