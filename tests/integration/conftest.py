"""Fixtures for the integration tests that run against the real services.

``celery_worker`` starts a real Celery worker process pointed at the test database pytest-django
created, the test broker and this test's MODEL_DIR, so tasks the test enqueues really travel
through the broker and really write rows and index files the test process then reads.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote

import pytest
from django.conf import settings as django_settings

from tests.servers import free_port, port_listening, start_daphne

REPO_ROOT = Path(__file__).resolve().parents[2]
WORKER_START_TIMEOUT = 60.0
WORKER_STOP_GRACE = 10.0

T = TypeVar("T")

_worker_key = pytest.StashKey["CeleryWorker"]()


def wait_until(
    probe: Callable[[], T | None], *, timeout: float, interval: float = 0.25, what: str
) -> T:
    """Call ``probe`` until it returns something other than None/False; fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(interval)


def run_in_thread(function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run ``function`` on a fresh thread (its own database connection, closed afterwards)."""
    outcome: dict[str, Any] = {}

    def target() -> None:
        from django.db import connections

        try:
            outcome["value"] = function(*args, **kwargs)
        except BaseException as exc:
            outcome["error"] = exc
        finally:
            connections.close_all()

    thread = threading.Thread(target=target, name=f"test-{function.__name__}")
    thread.start()
    thread.join(timeout=120)
    if thread.is_alive():
        raise AssertionError(f"{function.__name__} did not finish within 120s")
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


def database_url(settings_dict: dict[str, Any]) -> str:
    """A DATABASE_URL naming the database ``settings_dict`` describes (the test database)."""
    user = quote(settings_dict.get("USER") or "", safe="")
    password = quote(settings_dict.get("PASSWORD") or "", safe="")
    credentials = f"{user}:{password}@" if password else (f"{user}@" if user else "")
    host = settings_dict.get("HOST") or "127.0.0.1"
    if host.startswith("/"):  # a unix socket directory
        host = quote(host, safe="")
    port = settings_dict.get("PORT")
    netloc = f"{credentials}{host}:{port}" if port else f"{credentials}{host}"
    return f"postgres://{netloc}/{quote(str(settings_dict['NAME']), safe='')}"


@dataclass
class CeleryWorker:
    """A running ``celery worker`` process and its log."""

    process: subprocess.Popen[bytes]
    nodename: str
    log_path: Path
    environment: dict[str, str]

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def alive(self) -> bool:
        return self.process.poll() is None

    def wait_for_task(self, task_id: str, *, timeout: float = 60.0) -> str:
        """Wait until the worker logs that task ``task_id`` finished; return that log line."""
        pattern = re.compile(
            rf"^.*\[{re.escape(task_id)}\] (succeeded|raised|retry|failed).*$", re.MULTILINE
        )

        def finished() -> str | None:
            if not self.alive():
                raise AssertionError(f"the celery worker exited with {self.process.returncode}")
            found = pattern.search(self.log())
            return found.group(0) if found else None

        return wait_until(finished, timeout=timeout, what=f"task {task_id} to finish")


def _celery_app():
    from workers import app

    return app


def _purge_queues() -> None:
    app = _celery_app()
    app.control.purge()


def _stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM the worker (a warm shutdown), then SIGKILL its whole process group."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=WORKER_STOP_GRACE)
    # Also takes down any prefork child left behind by the main process.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=WORKER_STOP_GRACE)


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):
    """Attach the worker's log to the report of any failed phase of a test that used one."""
    report = yield
    worker = item.stash.get(_worker_key, None)
    if worker is not None and report.failed:
        report.sections.append((f"celery worker log ({worker.nodename})", worker.log()))
    return report


def _worker_environment(settings: Any, extra: dict[str, str] | None = None) -> dict[str, str]:
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.fail("a celery worker needs the PostgreSQL test database (set DATABASE_URL)")
    broker_url = django_settings.CELERY_BROKER_URL
    if not broker_url:
        pytest.fail("a celery worker needs CELERY_BROKER_URL")
    environment = dict(os.environ)
    environment.update(
        {
            "DJANGO_SETTINGS_MODULE": "webapp.settings",
            "DATABASE_URL": database_url(connection.settings_dict),
            "CELERY_BROKER_URL": broker_url,
            "MODEL_DIR": str(settings.MODEL_DIR),
            "SEARCH_DEVICE": settings.SEARCH_DEVICE,
            "PYTHONUNBUFFERED": "1",
        }
    )
    if django_settings.REDIS_URL:
        environment["REDIS_URL"] = django_settings.REDIS_URL
    environment.update(extra or {})
    return environment


def start_celery_worker(
    request: pytest.FixtureRequest,
    settings: Any,
    log_path: Path,
    *,
    queues: str = "default",
    concurrency: int = 1,
    environment: dict[str, str] | None = None,
    beat: bool = False,
) -> CeleryWorker:
    """Start a real ``celery worker`` (prefork) on ``queues`` and wait until it answers a ping
    (on a broker of the test's own, named in ``environment``, until it logs that it is ready).
    The caller stops it with ``stop_celery_worker``."""
    environment = _worker_environment(settings, environment)
    nodename = f"shopdesk-test-{uuid.uuid4().hex[:8]}@{socket.gethostname()}"
    command = [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "workers",
        "worker",
        "--pool=prefork",
        f"--concurrency={concurrency}",
        "-Q",
        queues,
        "--loglevel=INFO",
        "-n",
        nodename,
        "--without-gossip",
        "--without-mingle",
        "--without-heartbeat",
        *(["-B"] if beat else []),  # the beat scheduler inside this worker
    ]
    with open(log_path, "wb") as log_file:
        process = subprocess.Popen(
            command,
            cwd=REPO_ROOT,
            env=environment,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # its own process group, so teardown can kill the children
        )
    worker = CeleryWorker(process, nodename, log_path, environment)
    request.node.stash[_worker_key] = worker
    app = _celery_app()

    own_broker = environment["CELERY_BROKER_URL"] != django_settings.CELERY_BROKER_URL

    def answers_ping() -> bool:
        if not worker.alive():
            raise AssertionError(
                f"the celery worker exited with {process.returncode} before answering:\n"
                + worker.log()
            )
        if own_broker:  # this process's app talks to the usual broker, not that one
            return f"{nodename} ready." in worker.log()
        replies = app.control.ping(destination=[nodename], timeout=1.0)
        return any(nodename in reply for reply in replies)

    try:
        wait_until(answers_ping, timeout=WORKER_START_TIMEOUT, interval=0.5, what="the worker")
    except AssertionError as exc:
        _stop(process)
        raise AssertionError(f"{exc}\n--- celery worker log ---\n{worker.log()}") from None
    return worker


def stop_celery_worker(worker: CeleryWorker) -> None:
    _stop(worker.process)


@pytest.fixture
def celery_worker(
    request: pytest.FixtureRequest,
    transactional_db: None,
    settings: Any,
    _isolated_model_dir: None,
    tmp_path: Path,
) -> Iterator[CeleryWorker]:
    """A real ``celery worker`` (prefork, one child) consuming the ``default`` queue.

    It uses the test database (so tests using it need ``django_db(transaction=True)``: the worker
    only sees committed rows), the same broker and this test's MODEL_DIR.
    """
    _purge_queues()
    worker = start_celery_worker(request, settings, tmp_path / "celery-worker.log")
    try:
        yield worker
    finally:
        stop_celery_worker(worker)
        _purge_queues()


@dataclass
class ChatServer:
    process: subprocess.Popen[bytes]
    url: str  # ws://127.0.0.1:<port>
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")


@pytest.fixture
def chat_server(
    transactional_db: None, settings: Any, _isolated_model_dir: None, tmp_path: Path
) -> Iterator[ChatServer]:
    """The web app in its own daphne process on the test database and the Redis channel layer:
    the live bot a shopper talks to, separate from the test process and the workers."""
    environment = _worker_environment(settings)
    port = free_port()
    log_path = tmp_path / "daphne.log"
    process = start_daphne(environment, log_path, port)
    server = ChatServer(process, f"ws://127.0.0.1:{port}", log_path)

    def listening() -> bool:
        if process.poll() is not None:
            raise AssertionError(f"daphne exited with {process.returncode}:\n{server.log()}")
        return port_listening(port)

    try:
        wait_until(listening, timeout=60, what="daphne to listen")
        yield server
    finally:
        _stop(process)


def throwaway_redis(port: int, log_path: Path) -> subprocess.Popen[bytes]:
    """A Redis server of the test's own on ``port`` (no persistence), for drills that stop and
    restart it; the machine's shared Redis is never touched."""
    argv = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", ""]
    with open(log_path, "ab") as log:
        process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)
    wait_until(lambda: redis_pings(port), timeout=20, what="the throw-away redis")
    return process


def redis_pings(port: int) -> bool:
    import redis

    try:
        return bool(redis.Redis(port=port, socket_connect_timeout=0.5).ping())
    except redis.exceptions.ConnectionError:
        return False
