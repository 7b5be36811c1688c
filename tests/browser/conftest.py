"""Browser-test fixtures: the real server (daphne on the embedded mode, demo store loaded,
indexed and its intent model trained) and one real Chromium per module."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.servers import free_port, start_daphne

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"

BROWSER_MARKS = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not Path(CHROMIUM).exists() and os.environ.get("CI") != "true",
        reason="Debian chromium is not installed (scripts/test installs it)",
    ),
]


@pytest.fixture(scope="session")
def demo_server(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("browser")
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL", "DJANGO_SETTINGS_MODULE"}
    }
    env.update(DATABASE_URL=f"sqlite:///{workdir}/db.sqlite3", MODEL_DIR=str(workdir / "models"))
    manage = [sys.executable, "manage.py"]
    for command in (
        ["migrate", "--noinput", "-v0"],
        ["load_demo"],
        ["build_index", "--store", "demo"],
        # Two epochs keep this under a minute; the demo script trains to early stopping.
        ["train_intents", "--store", "demo", "--max-epochs", "2"],
    ):
        subprocess.run(
            [*manage, *command], cwd=ROOT, env=env, check=True, timeout=900, capture_output=True
        )
    port = free_port()
    server = start_daphne(env, workdir / "daphne.log", port)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(f"{base}/s/demo/", timeout=2)
                break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise RuntimeError((workdir / "daphne.log").read_text()) from None
                time.sleep(0.3)
        yield base
    finally:
        server.terminate()
        server.wait(timeout=10)


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--no-first-run",
                "--disable-sync",
            ],
        )
        yield chromium
        chromium.close()


def watch_errors(page, errors: list[str]) -> None:
    """Collect the page's uncaught errors and every Content-Security-Policy refusal."""
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on(
        "console",
        lambda message: (
            errors.append(message.text) if "Content Security Policy" in message.text else None
        ),
    )
