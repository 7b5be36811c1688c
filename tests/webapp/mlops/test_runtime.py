"""LiveModels: one load per version, hot reload on promotion, background loading for the chat,
and damaged artefacts refused. The loader is a stand-in behind the ``load(path)`` interface;
tests/webapp/intents and tests/webapp/reviews load real models through it."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from tests.factories import make_store
from webapp.mlops.models import ModelKind, ModelVersion
from webapp.mlops.runtime import ArtefactDamaged, LiveModels, live_models
from webapp.mlops.services import model_version_promote, model_version_register

pytestmark = pytest.mark.django_db

# How long a background load may take before the test gives up (a bound, not a measurement).
DEADLINE_SECONDS = 10.0


class Loader:
    """Loads the 'model' (the file's bytes) and counts each load per folder."""

    def __init__(self) -> None:
        self.loads: list[str] = []
        self.release = threading.Event()
        self.release.set()

    def __call__(self, path: Path) -> str:
        self.loads.append(path.name)
        self.release.wait(DEADLINE_SECONDS)
        return (path / "model.txt").read_text()


def _register(store, content: str) -> ModelVersion:
    def save(directory: Path) -> None:
        directory.mkdir(parents=True)
        (directory / "model.txt").write_text(content)

    return model_version_register(
        store=store,
        kind=ModelKind.INTENT,
        save=save,
        metrics={},
        training_examples=1,
        heldout_examples=1,
        training_seconds=0,
    )


@pytest.fixture
def versions():
    store = make_store()
    first, second = _register(store, "model one"), _register(store, "model two")
    model_version_promote(version_id=first.id)
    return first, second


def test_a_version_is_loaded_once_and_a_promotion_is_picked_up(versions):
    first, second = versions
    models, load = LiveModels(), Loader()

    assert models.get(first, load) == "model one"
    assert models.get(first, load) == "model one"
    assert load.loads == ["v000001"]

    model_version_promote(version_id=second.id)
    second.refresh_from_db()
    assert models.get(second, load) == "model two"
    assert models.get(second, load) == "model two"
    assert load.loads == ["v000001", "v000002"]
    assert models.loaded_version_id(first.store_id, ModelKind.INTENT) == second.id


def test_without_waiting_the_old_model_answers_while_the_new_one_loads(versions):
    first, second = versions
    models, load = LiveModels(), Loader()
    models.get(first, load)

    load.release.clear()  # the next load blocks until released
    assert models.get(second, load, wait=False) == "model one"
    assert models.get(second, load, wait=False) == "model one"  # one background load only
    load.release.set()

    deadline = time.monotonic() + DEADLINE_SECONDS
    while models.loaded_version_id(first.store_id, ModelKind.INTENT) != second.id:
        assert time.monotonic() < deadline, "the background load never finished"
        time.sleep(0.01)
    assert models.get(second, load, wait=False) == "model two"
    assert load.loads == ["v000001", "v000002"]


def test_without_a_loaded_model_the_first_get_loads_even_without_waiting(versions):
    first, _ = versions
    models, load = LiveModels(), Loader()
    assert models.get(first, load, wait=False) == "model one"


def test_a_damaged_version_is_refused_and_the_old_one_keeps_serving(versions):
    first, second = versions
    models, load = LiveModels(), Loader()
    models.get(first, load)
    (second.path / "model.txt").write_text("tampered")

    assert models.get(second, load) == "model one"
    assert load.loads == ["v000001"]  # the damaged files were never loaded
    assert models.loaded_version_id(first.store_id, ModelKind.INTENT) == first.id

    with pytest.raises(ArtefactDamaged):
        LiveModels().get(second, load)  # nothing to fall back on
    assert load.loads == ["v000001"]


def test_a_refused_version_is_not_checksummed_again_on_every_message(versions, monkeypatch):
    from webapp.mlops import services

    first, second = versions
    models, load = LiveModels(), Loader()
    models.get(first, load)
    (second.path / "model.txt").write_text("tampered")
    checks = []
    real = services.artefact_checksum
    monkeypatch.setattr(
        services, "artefact_checksum", lambda path: checks.append(path) or real(path)
    )

    for _ in range(5):
        assert models.get(second, load) == "model one"
    assert len(checks) == 1


def test_messages_in_flight_during_swaps_all_get_answers_from_a_real_model():
    """Shoppers' messages keep being classified while versions are promoted underneath them:
    no prediction fails, and each one comes from a whole model (old or new). The shopper
    threads get the live version from ``current`` (what each message's one query returns in
    a real process: SQLite's shared-cache test database can't take concurrent readers and a
    writer, PostgreSQL can)."""
    from nlp.intents import IntentClassifier, IntentTrainingConfig, train_intent_classifier
    from tests.nlp.intent_data import TINY_LABELS, TINY_TEXTS

    store = make_store()
    model = train_intent_classifier(
        TINY_TEXTS, TINY_LABELS, IntentTrainingConfig(max_epochs=1, val_fraction=0.25)
    )
    versions = [
        model_version_register(
            store=store,
            kind=ModelKind.INTENT,
            save=model.save,
            metrics={},
            training_examples=len(TINY_TEXTS),
            heldout_examples=0,
            training_seconds=0,
        )
        for _ in range(4)
    ]
    current = [model_version_promote(version_id=versions[0].id)]
    answers: list[str] = []
    errors: list[BaseException] = []
    stop = threading.Event()

    def shopper() -> None:
        try:
            while not stop.is_set():
                classifier = live_models.get(current[0], IntentClassifier.load, wait=False)
                (prediction,) = classifier.predict(["where is my parcel"])
                answers.append(prediction.top[0][0])
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=shopper) for _ in range(2)]
    for thread in threads:
        thread.start()
    try:
        for version in versions[1:]:
            current[0] = model_version_promote(version_id=version.id)
            deadline = time.monotonic() + DEADLINE_SECONDS
            while live_models.loaded_version_id(store.id, ModelKind.INTENT) != version.id:
                assert not errors, errors
                assert time.monotonic() < deadline, f"v{version.version} was never served"
                time.sleep(0.02)
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=DEADLINE_SECONDS)

    assert errors == []
    assert len(answers) > 10
    assert set(answers) == {"order_status"}  # the same model each time: the same answer


def test_the_chat_gets_no_intent_model_when_the_live_files_are_damaged(versions):
    """The bot then answers from retrieval, as before a store's first model, instead of
    failing every message."""
    from webapp.intents.selectors import intent_classifier_live

    first, _ = versions
    (first.path / "model.txt").write_text("tampered")
    assert intent_classifier_live(store_id=first.store_id, wait=False) is None
    assert intent_classifier_live(store_id=first.store_id) is None
