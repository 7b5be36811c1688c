"""Drill: PostgreSQL restarts in the middle of a chat.

A throw-away PostgreSQL server of the test's own (initdb in a temporary folder, another port;
the machine's shared server is never touched) holds a small store. daphne serves the chat on
it. A shopper chats, the server restarts (``pg_ctl restart -m fast``), the shopper keeps
writing: every message is either stored or refused with a ``not_saved`` frame (nothing is lost
silently), the socket stays open, and the bot answers again after the restart.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from tests.integration.conftest import REPO_ROOT, _stop, _worker_environment, wait_until
from tests.servers import free_port, port_listening, start_daphne

pytestmark = [pytest.mark.services, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

FAQ = [
    {"question": "How long does shipping take?", "answer": "Parcels arrive in 1-2 days.",
     "category": "Shipping"},
    {"question": "Can I return an item?", "answer": "Yes, within 30 days.", "category": "Returns"},
    {"question": "Do you ship to Belgium?", "answer": "Yes, in 2-3 days.", "category": "Shipping"},
]  # fmt: skip
TEXTS = [
    "how long does shipping take?",
    "can I return an item?",
    "do you ship to Belgium?",
    "how long does shipping take to Belgium?",
]


def _as_postgres(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["runuser", "-u", "postgres", "--", *argv], capture_output=True, text=True, timeout=120
    )


@pytest.fixture
def throwaway_postgres():
    if shutil.which("initdb") is None or shutil.which("runuser") is None:
        pytest.fail("the PostgreSQL drill needs initdb, pg_ctl and runuser")
    # Outside pytest's private temp folder: the postgres user must reach it.
    root = Path(tempfile.mkdtemp(prefix="shopdesk-pg-"))
    data, sockets = root / "data", root / "sockets"
    postgres = pwd.getpwnam("postgres")
    for folder in (root, data, sockets):
        folder.mkdir(exist_ok=True)
        os.chown(folder, postgres.pw_uid, postgres.pw_gid)
    tmp_path = root
    port = free_port()
    initialised = _as_postgres("initdb", "-D", str(data), "-A", "trust", "-U", "postgres")
    assert initialised.returncode == 0, initialised.stderr
    options = f"-p {port} -k {sockets} -c listen_addresses=127.0.0.1 -c fsync=off"
    control = ["pg_ctl", "-D", str(data), "-o", options, "-l", str(tmp_path / "pg.log"), "-w"]
    started = _as_postgres(*control, "start")
    assert started.returncode == 0, started.stderr
    try:
        yield {"url": f"postgres://postgres@127.0.0.1:{port}/postgres", "control": control}
    finally:
        _as_postgres("pg_ctl", "-D", str(data), "-m", "immediate", "stop")
        shutil.rmtree(root, ignore_errors=True)


def _manage(env: dict[str, str], *args: str) -> None:
    done = subprocess.run(
        [sys.executable, "manage.py", *args], cwd=REPO_ROOT, env=env, capture_output=True,
        text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr


async def _turn(socket: Any, text: str, seconds: float = 30) -> list[dict]:
    await socket.send(json.dumps({"type": "message", "text": text}))
    frames: list[dict] = []
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(seconds):
            while not frames or not (
                (frames[-1]["type"] == "message" and frames[-1]["role"] == "bot")
                or frames[-1]["type"] == "error"
            ):
                frames.append(json.loads(await socket.recv()))
    return frames


async def _chat(url: str, origin: str, restart: Any) -> list[list[dict]]:
    turns = []
    async with connect(url, origin=origin, open_timeout=20) as socket:
        await socket.recv()
        turns.append(await _turn(socket, TEXTS[0]))
        restart()
        for text in TEXTS[1:3]:
            with contextlib.suppress(ConnectionClosed):
                turns.append(await _turn(socket, text, 20))
        await asyncio.sleep(1)
        turns.append(await _turn(socket, TEXTS[3]))  # the socket is still the same one
    return turns


def _stored_texts(url: str) -> list[str]:
    import psycopg

    with psycopg.connect(url) as connection:
        rows = connection.execute(
            "SELECT text FROM chat_message WHERE role = 'shopper' ORDER BY id"
        ).fetchall()
    return [row[0] for row in rows]


def test_a_postgres_restart_mid_chat_loses_no_message(
    settings, tmp_path, throwaway_postgres, encoder
):
    env = _worker_environment(settings, {"DATABASE_URL": throwaway_postgres["url"]})
    faq = tmp_path / "faq.jsonl"
    faq.write_text("\n".join(json.dumps(entry) for entry in FAQ))
    _manage(env, "migrate", "--noinput", "-v0")
    _manage(env, "create_store", "--slug", "acme", "--name", "Acme")
    _manage(env, "import_faq", str(faq), "--store", "acme")
    _manage(env, "build_index", "--store", "acme")
    port = free_port()
    web = start_daphne(env, tmp_path / "daphne.log", port)

    def restart() -> None:
        done = _as_postgres(*throwaway_postgres["control"], "-m", "fast", "restart")
        assert done.returncode == 0, done.stderr

    try:
        wait_until(lambda: port_listening(port), timeout=60, what="daphne")
        started = time.monotonic()
        turns = asyncio.run(
            _chat(f"ws://127.0.0.1:{port}/ws/chat/acme/", f"http://127.0.0.1:{port}", restart)
        )
        seconds = time.monotonic() - started
    finally:
        _stop(web)
    log = (tmp_path / "daphne.log").read_text()
    assert len(turns) == 4, log[-3000:]
    assert turns[0][-1]["role"] == "bot"
    assert turns[-1][-1].get("role") == "bot", (turns, log[-3000:])  # answering again
    stored = _stored_texts(throwaway_postgres["url"])
    for text, frames in zip(TEXTS, turns, strict=True):
        refused = any(f["type"] == "error" and f["code"] == "not_saved" for f in frames)
        # Stored, or refused in so many words: never lost silently.
        assert (text in stored) != refused, (text, frames)
    outcome = [f[-1].get("code") or f[-1].get("role") for f in turns]
    print(f"turns across the restart: {outcome}; {seconds:.1f} s in all")
