from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from webapp.common.errors import validation_message
from webapp.stores.services import store_create


class Command(BaseCommand):
    help = (
        "Create a store (tenant). Example: manage.py create_store --slug acme --name 'Acme Goods'"
    )

    def add_arguments(self, parser):
        parser.add_argument("--slug", required=True)
        parser.add_argument("--name", required=True)
        parser.add_argument("--currency", default="EUR")

    def handle(self, *args, slug, name, currency, **options):
        try:
            store = store_create(slug=slug, name=name, currency=currency)
        except ValidationError as exc:
            raise CommandError(validation_message(exc)) from None
        self.stdout.write(self.style.SUCCESS(f"Created store {store.slug!r} ({store.name})"))
