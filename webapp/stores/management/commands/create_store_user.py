from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from webapp.common.errors import validation_message
from webapp.stores.models import Role
from webapp.stores.selectors import store_get_by_slug
from webapp.stores.services import store_user_upsert


class Command(BaseCommand):
    help = (
        "Create or update a store member. Example: manage.py create_store_user --store demo "
        "--role agent --username ann --password 's3cret!' --email ann@example.com"
    )

    def add_arguments(self, parser):
        parser.add_argument("--store", required=True, help="store slug")
        parser.add_argument("--role", required=True, choices=Role.values)
        parser.add_argument("--username", required=True)
        parser.add_argument("--password", help="required for a new user")
        parser.add_argument("--email", default="")

    def handle(self, *args, store, role, username, password, email, **options):
        store_obj = store_get_by_slug(slug=store)
        if store_obj is None:
            raise CommandError(f"Unknown store {store!r}")
        try:
            result = store_user_upsert(
                store=store_obj, username=username, password=password, role=role, email=email
            )
        except ValidationError as exc:
            raise CommandError(validation_message(exc)) from None
        verb = "Created" if result.user_created else "Updated"
        self.stdout.write(
            self.style.SUCCESS(f"{verb} {username!r}: {role} of store {store_obj.slug!r}")
        )
