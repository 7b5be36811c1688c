"""Shared fixtures: one loaded encoder per session, an isolated MODEL_DIR per test, and the
rule that real-service tests are required under CI=true."""

from __future__ import annotations

import asyncio
import functools
import os
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor

import pytest
import pytest_asyncio
from asgiref.sync import sync_to_async
from django.db import connections

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
    """Each test gets its own MODEL_DIR and empty in-process index and model caches."""
    from webapp.kb.runtime import live_knowledge_bases
    from webapp.mlops.runtime import live_models

    settings.MODEL_DIR = tmp_path_factory.mktemp("models")
    live_knowledge_bases.clear()
    live_models.clear()
    yield
    live_knowledge_bases.clear()
    live_models.clear()


class _ClosingExecutor(ThreadPoolExecutor):
    """A thread pool whose jobs close their thread's database connections when they finish."""

    def submit(self, fn, /, *args, **kwargs):  # type: ignore[no-untyped-def]
        def run():  # type: ignore[no-untyped-def]
            try:
                return fn(*args, **kwargs)
            finally:
                connections.close_all()

        return super().submit(run)


@pytest_asyncio.fixture
async def close_thread_db_connections() -> AsyncIterator[None]:
    """Leave no database connection open in the threads a consumer test used.

    channels.testing turns ``close_old_connections`` into a no-op while a communicator runs, so
    connections opened by ``database_sync_to_async`` would outlive the test and PostgreSQL
    could not drop the test database at the end of the session.
    """
    loop = asyncio.get_running_loop()
    executor = _ClosingExecutor(thread_name_prefix="test-loop-default")
    loop.set_default_executor(executor)  # runs the consumer's thread_sensitive=False calls
    yield
    await sync_to_async(connections.close_all)()  # the one thread for thread-sensitive calls
    executor.shutdown(wait=True)
