"""Small builders for test rows (plain functions: the models are simple)."""

from __future__ import annotations

import itertools
from decimal import Decimal
from pathlib import Path

from webapp.catalog.models import FaqEntry, Product
from webapp.mlops.models import ModelVersion
from webapp.stores.models import Store

_sequence = itertools.count(1)


def make_store(*, slug: str | None = None, name: str = "Test Store") -> Store:
    number = next(_sequence)
    return Store.objects.create(slug=slug or f"store-{number}", name=name)


def make_faq(store: Store, question: str, answer: str, **fields: object) -> FaqEntry:
    return FaqEntry.objects.create(store=store, question=question, answer=answer, **fields)


def make_product(store: Store, sku: str, name: str, **fields: object) -> Product:
    defaults: dict[str, object] = {"price": Decimal("19.95"), "description": "", "category": ""}
    defaults.update(fields)
    return Product.objects.create(store=store, sku=sku, name=name, **defaults)


SMALL_FAQ = [
    (
        "How long does shipping take?",
        "Parcels arrive in 1-2 business days in the Netherlands.",
        "delivery_time",
    ),
    (
        "How do I return an item?",
        "Use the free return label within 30 days of delivery.",
        "return_item",
    ),
    (
        "Which payment methods do you accept?",
        "We take iDEAL, cards, PayPal and gift cards.",
        "payment_problem",
    ),
    (
        "How do I reset my password?",
        "Use 'Forgot password' to get a reset link by email.",
        "account_password",
    ),
]


def make_small_kb(store: Store) -> None:
    for question, answer, intent in SMALL_FAQ:
        make_faq(store, question, answer, intent=intent, category="Help")
    make_product(
        store,
        "KET-1",
        "Glass electric kettle 1.7 L",
        category="Kitchen",
        description="Boils 1.7 litres of water quickly; automatic shut-off.",
        price=Decimal("34.95"),
    )
    make_product(
        store,
        "TEN-1",
        "Two-person dome tent",
        category="Outdoor",
        description="A light three-season tent for two hikers, 2.1 kg.",
        price=Decimal("149.00"),
    )


def make_live_sentiment_model(store: Store, *, max_epochs: int = 1) -> ModelVersion:
    """A sentiment model fine-tuned on the tiny review set, registered and live for ``store``."""
    from nlp.sentiment import sentiment_training_config, train_sentiment_classifier
    from tests.nlp.sentiment_data import REVIEWS
    from webapp.mlops.models import ModelKind
    from webapp.mlops.services import model_version_promote, model_version_register

    texts, ratings = zip(*REVIEWS, strict=True)
    config = sentiment_training_config(max_epochs=max_epochs, val_fraction=0.25)
    model = train_sentiment_classifier(list(texts), list(ratings), config)
    version = model_version_register(
        store=store,
        kind=ModelKind.SENTIMENT,
        save=model.save,
        metrics={},
        training_examples=len(texts),
        heldout_examples=0,
        training_seconds=1.0,
    )
    return model_version_promote(version_id=version.id)


def make_indexed_store(*, slug: str | None = None, name: str = "Test Store") -> Store:
    """A store with the small KB (``make_small_kb``) and its search index built."""
    from webapp.kb.services import search_index_build

    store = make_store(slug=slug, name=name)
    make_small_kb(store)
    search_index_build(store_id=store.id)
    return store


def make_model_version(
    store: Store, payload: bytes = b"weights", kind: str = "intent", **fields: object
) -> ModelVersion:
    """A registered candidate whose files are a stand-in (enough for the registry's checks)."""
    from webapp.mlops.services import model_version_register

    defaults: dict[str, object] = {
        "metrics": {"macro_f1": 0.8},
        "training_examples": 10,
        "heldout_examples": 4,
        "training_seconds": 1.23,
    }
    return model_version_register(
        store=store, kind=kind, save=model_files_writer(payload), **{**defaults, **fields}
    )


def model_files_writer(payload: bytes):  # type: ignore[no-untyped-def]
    """A ``save(directory)`` writing a stand-in model's files."""

    def save(directory: Path) -> None:
        (directory / "weights").mkdir(parents=True)
        (directory / "weights" / "model.bin").write_bytes(payload)
        (directory / "meta.json").write_text('{"labels": ["a", "b"]}')

    return save
