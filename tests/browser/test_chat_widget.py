"""A real Chromium asks the demo store's chat widget a shipping question and follows the source.

The server is the real thing: daphne serving webapp.asgi on a free port, in the embedded mode
(SQLite file, in-memory channel layer, eager tasks) with the demo store loaded and indexed.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not Path(CHROMIUM).exists() and os.environ.get("CI") != "true",
        reason="Debian chromium is not installed (scripts/test installs it)",
    ),
]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
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
    ):
        subprocess.run(
            [*manage, *command], cwd=ROOT, env=env, check=True, timeout=300, capture_output=True
        )
    port = _free_port()
    log = open(workdir / "daphne.log", "w")  # noqa: SIM115
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "daphne",
            "-b",
            "127.0.0.1",
            "-p",
            str(port),
            "webapp.asgi:application",
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
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
        log.close()


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


def test_shopper_asks_about_shipping_and_gets_a_sourced_answer(demo_server, browser):
    page = browser.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(f"{demo_server}/s/demo/")
    assert page.locator(".product-card, article").first.is_visible()
    page.click("#chat-launcher")
    page.wait_for_selector("#chat-panel[data-state='open']", timeout=30_000)
    page.fill("#chat-input", "how long does shipping take?")
    page.keyboard.press("Enter")
    source = page.locator("#chat-log .message.bot a.source").first
    source.wait_for(timeout=60_000)
    bot_text = page.locator("#chat-log .message.bot").last.inner_text()
    assert "business days" in bot_text
    assert source.inner_text() == "How long does shipping take?"
    href = source.get_attribute("href")
    assert href.startswith("/s/demo/faq/#faq-")
    # The shopper's own message shows exactly once, confirmed by the server.
    assert page.locator("#chat-log .message.shopper").count() == 1
    source.click()
    page.wait_for_url(f"**{href}")
    target = page.locator(f"#{href.split('#')[1]}")
    assert "How long does shipping take?" in target.inner_text()
    assert errors == []
    page.close()


def test_history_survives_a_reload_and_fits_a_phone(demo_server, browser):
    page = browser.new_page(viewport={"width": 375, "height": 700})
    page.goto(f"{demo_server}/s/demo/")
    page.click("#chat-launcher")
    page.wait_for_selector("#chat-panel[data-state='open']", timeout=30_000)
    page.fill("#chat-input", "can I pay with paypal?")
    page.keyboard.press("Enter")
    page.locator("#chat-log .message.bot").first.wait_for(timeout=60_000)
    box = page.locator("#chat-panel").bounding_box()
    assert box is not None
    assert box["width"] <= 375
    page.reload()
    page.click("#chat-launcher")
    page.wait_for_selector("#chat-panel[data-state='open']", timeout=30_000)
    shopper = page.locator("#chat-log .message.shopper")
    shopper.first.wait_for(timeout=30_000)
    assert shopper.count() == 1
    assert "paypal" in shopper.first.inner_text().lower()
    page.close()
