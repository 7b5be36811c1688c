"""Shared fixtures: one loaded encoder per session, an isolated MODEL_DIR per test, and the
rule that real-service tests are required under CI=true."""

from __future__ import annotations

import functools
import os

import pytest

from tests.services_check import missing_services


@functools.cache
def _absent_services() -> tuple[str, ...]:
    return tuple(missing_services())


def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.get_closest_marker("services") is None:
        return
    absent = _absent_services()
    if not absent:
        return
    reason = "services not reachable: " + ", ".join(absent)
    if os.environ.get("CI") == "true":
        # Under CI an unreachable service is a failure, never a skip.
        pytest.fail("CI=true requires the real services; " + reason, pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def encoder():
    """The real bundled MiniLM, loaded once for the whole session."""
    from retrieval.embedding import shared_encoder

    return shared_encoder()


@pytest.fixture(autouse=True)
def _isolated_model_dir(settings, tmp_path_factory: pytest.TempPathFactory):
    """Each test gets its own MODEL_DIR and an empty in-process index cache."""
    from webapp.kb.runtime import live_knowledge_bases

    settings.MODEL_DIR = tmp_path_factory.mktemp("models")
    live_knowledge_bases.clear()
    yield
    live_knowledge_bases.clear()
