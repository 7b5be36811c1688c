from django.core.management.base import BaseCommand, CommandError

from webapp.stores.selectors import store_get_by_slug
from webapp.stores.services import api_key_create


class Command(BaseCommand):
    help = (
        "Create an API key for a store's server-to-server calls (the storefront posting "
        "reviews). The key is printed once and never stored. "
        "Example: manage.py create_api_key --store acme --name storefront"
    )

    def add_arguments(self, parser):
        parser.add_argument("--store", required=True, help="store slug")
        parser.add_argument("--name", default="storefront", help="what will use the key")

    def handle(self, *args, store: str, name: str, **options):
        store_obj = store_get_by_slug(slug=store)
        if store_obj is None:
            raise CommandError(f"Unknown store {store!r}")
        _, key = api_key_create(store=store_obj, name=name)
        self.stderr.write(f"API key '{name}' for {store_obj.slug} (shown only now):")
        self.stdout.write(key)
