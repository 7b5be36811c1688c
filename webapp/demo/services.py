"""The demo store: Driftwood Market, its people, catalog and FAQ (all written by us)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from django.contrib.auth import get_user_model
from django.db import transaction

from webapp.catalog.services import faq_import, products_import
from webapp.common.importing import ImportReport
from webapp.stores.models import Role
from webapp.stores.services import store_get_or_create, store_user_upsert

DATA_DIR = Path(__file__).resolve().parent / "data"
DEMO_SLUG = "demo"
DEMO_NAME = "Driftwood Market"

# Demo-only credentials, printed by the demo command; never used outside the embedded demo.
DEMO_LOGINS = (
    ("admin", "admin-demo", "superuser"),
    ("merchant", "merchant-demo", Role.MERCHANT),
    ("agent", "agent-demo", Role.AGENT),
)


@dataclass(frozen=True)
class DemoLoadResult:
    store_created: bool
    products: ImportReport
    faq: ImportReport


@transaction.atomic
def demo_load() -> DemoLoadResult:
    """Create or refresh the demo store; safe to run any number of times."""
    store, created = store_get_or_create(slug=DEMO_SLUG, name=DEMO_NAME, currency="EUR")
    user_model = get_user_model()
    for username, password, role in DEMO_LOGINS:
        if role == "superuser":
            user = user_model.objects.filter(username=username).first()
            if user is None:
                user_model.objects.create_superuser(
                    username, f"{username}@driftwood.example", password
                )
            continue
        store_user_upsert(
            store=store,
            username=username,
            password=password,
            role=role,
            email=f"{username}@driftwood.example",
        )
    products = products_import(store=store, path=DATA_DIR / "products.jsonl")
    faq = faq_import(store=store, path=DATA_DIR / "faq.jsonl")
    return DemoLoadResult(store_created=created, products=products, faq=faq)
