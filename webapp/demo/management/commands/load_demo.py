from django.core.management.base import BaseCommand

from webapp.demo.services import DEMO_LOGINS, DEMO_SLUG, demo_load
from webapp.reviews.alerts import alerts_check


class Command(BaseCommand):
    help = (
        "Create or refresh the demo store (slug 'demo') with its catalog, FAQ and logins. "
        "Idempotent. Example: manage.py load_demo"
    )

    def add_arguments(self, parser):
        parser.add_argument("--logins", action="store_true", help="print the demo logins")

    def handle(self, *args, logins: bool, **options):
        result = demo_load()
        verb = "Created" if result.store_created else "Refreshed"
        self.stdout.write(self.style.SUCCESS(f"{verb} store {DEMO_SLUG!r}"))
        self.stdout.write(f"  products: {result.products.summary()}")
        self.stdout.write(f"  FAQ:      {result.faq.summary()}")
        self.stdout.write(f"  intents:  {result.intents.summary()}")
        self.stdout.write(f"  held-out: {result.intents_heldout.summary()}")
        self.stdout.write(
            f"  {result.orders} orders, {result.canned_replies} canned replies, "
            "intent answers loaded"
        )
        self.stdout.write(f"  reviews:  {result.reviews.summary()}")
        # Embedded mode scored the reviews as the load committed; with workers, beat checks
        # the rules every 15 minutes and this finds whatever is scored so far.
        alerts = alerts_check()
        self.stdout.write(f"  {result.alert_rules} alert rule(s), {len(alerts)} new alert(s)")
        reports = [
            result.products,
            result.faq,
            result.intents,
            result.intents_heldout,
            result.reviews,
        ]
        for error in [e for report in reports for e in report.errors]:
            self.stderr.write(f"  {error}")
        if logins:
            self.stdout.write("Demo logins:")
            for username, password, role in DEMO_LOGINS:
                self.stdout.write(f"  {role:<10} {username:<9} password: {password}")
