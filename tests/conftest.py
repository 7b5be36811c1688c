"""Shared fixtures: one loaded encoder per session, an isolated MODEL_DIR per test, the rule
that real-service tests are required under CI=true, and the test clock (``--clock``)."""

from __future__ import annotations

import asyncio
import functools
import os
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import pytest
import pytest_asyncio
import time_machine
from asgiref.sync import sync_to_async
from django.db import connections

from tests.services_check import missing_services

CLOCK_ENV = "SHOPDESK_TEST_CLOCK"
# Where ``pinned_now`` starts without --clock: a Wednesday noon, half a day from either end of
# its day and days from either end of its ISO week.
DEFAULT_PINNED_NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
_CLOCK = pytest.StashKey[datetime]()
_SESSION_TRAVEL = pytest.StashKey[time_machine.travel]()


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--clock",
        default=os.environ.get(CLOCK_ENV) or None,
        metavar="ISO_DATETIME",
        help=(
            "run the suite as if the time were this, e.g. 2026-12-02T23:59:00Z (no zone means "
            f"UTC; default: ${CLOCK_ENV}). The clock ticks on from it, and every test starts "
            "again at it. Only this pytest process travels: subprocesses (daphne, Celery "
            "workers, the browser tests' server) keep the real time."
        ),
    )


def _parse_clock(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise pytest.UsageError(
            f"--clock / ${CLOCK_ENV}: {text!r} is not an ISO date-time (2026-12-02T23:59:00Z)"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def pytest_configure(config: pytest.Config) -> None:
    text = config.getoption("clock")
    if not text:
        return
    moment = _parse_clock(text)
    config.stash[_CLOCK] = moment
    # From here on, not from the first test: collection imports the test modules, and anything
    # they compute from the time at import must already see the chosen clock.
    travel = time_machine.travel(moment, tick=True)
    travel.start()
    config.stash[_SESSION_TRAVEL] = travel


def pytest_unconfigure(config: pytest.Config) -> None:
    travel = config.stash.get(_SESSION_TRAVEL, None)
    if travel is not None:
        travel.stop()
        del config.stash[_SESSION_TRAVEL]


def pytest_report_header(config: pytest.Config) -> str | None:
    moment = config.stash.get(_CLOCK, None)
    return None if moment is None else f"clock: every test starts at {moment.isoformat()}"


@pytest.fixture(autouse=True)
def _chosen_clock(request: pytest.FixtureRequest) -> Iterator[None]:
    """Under --clock, put the clock back to the chosen moment before each test.

    The session clock alone would tick past it within seconds: at 23:59 most of the suite would
    run after midnight, and the moment asked for would be tested only by the first few tests.
    """
    moment = request.config.stash.get(_CLOCK, None)
    if moment is None:
        yield
        return
    with time_machine.travel(moment, tick=True):
        yield


@pytest.fixture
def pinned_now(request: pytest.FixtureRequest) -> Iterator[datetime]:
    """For a test whose data and assertions are relative to the time: the clock starts at a
    known moment (the --clock one, else ``DEFAULT_PINNED_NOW``) and ticks on from it, so the
    test can't straddle midnight or a Monday by chance. Yields that moment."""
    moment = request.config.stash.get(_CLOCK, DEFAULT_PINNED_NOW)
    with time_machine.travel(moment, tick=True):
        yield moment


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


def _no_warmup_in_this_process() -> None:
    # Test modules import webapp.asgi, which starts the web warm-up; here that would load the
    # encoder and query a database no test has set up yet. Tests that exercise the warm-up call
    # it themselves; servers started as subprocesses warm as deployed.
    from django.conf import settings

    settings.WARMUP_ON_START = False
    # PBKDF2 at Django's strength costs ~0.3 s a password here; tests log in with force_login
    # or test passwords they set themselves, and the hash strength is not what they check.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    # The suite opens hundreds of sockets a minute from one address, and in the services pass
    # the counters live in Redis across tests: the flood limits are off here (servers started
    # as subprocesses inherit the environment) and on in the tests about them, each from its
    # own client address.
    settings.CHAT_CONNECTS_PER_MINUTE_PER_IP = 0
    settings.CHAT_MESSAGES_PER_MINUTE = 0
    settings.API_BAD_KEYS_PER_MINUTE_PER_IP = 0
    settings.API_REVIEWS_PER_MINUTE_PER_KEY = 0
    for name in (
        "CHAT_CONNECTS_PER_MINUTE_PER_IP",
        "CHAT_MESSAGES_PER_MINUTE",
        "API_BAD_KEYS_PER_MINUTE_PER_IP",
        "API_REVIEWS_PER_MINUTE_PER_KEY",
    ):
        os.environ[name] = "0"


_no_warmup_in_this_process()
