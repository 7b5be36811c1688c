"""A real Chromium asks the demo store's chat widget a shipping question and follows the source.

The server is the real thing: daphne serving webapp.asgi on a free port, in the embedded mode
(SQLite file, in-memory channel layer, eager tasks) with the demo store loaded and indexed.
"""

from __future__ import annotations

from tests.browser.conftest import BROWSER_MARKS, watch_errors

pytestmark = BROWSER_MARKS


def test_shopper_asks_about_shipping_and_gets_a_sourced_answer(demo_server, browser):
    page = browser.new_page()
    errors: list[str] = []
    watch_errors(page, errors)
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
