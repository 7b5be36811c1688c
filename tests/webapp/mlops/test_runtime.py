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
from webapp.mlops.runtime import ArtefactDamaged, LiveModels
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
