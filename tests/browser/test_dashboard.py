"""A merchant logs in with real Chromium and sees the sentiment dashboard's charts render.

The demo store's 640 reviews were scored when load_demo committed (eager tasks, VADER), and
Plotly is served from the installed wheel, so the charts draw without any network.
"""

from __future__ import annotations

from tests.browser.conftest import BROWSER_MARKS, watch_errors

pytestmark = BROWSER_MARKS

WAIT_MS = 60_000


def test_merchant_sees_the_charts_and_can_filter(demo_server, browser):
    page = browser.new_page()
    errors: list[str] = []
    watch_errors(page, errors)
    page.goto(f"{demo_server}/dashboard/")
    page.fill("#id_username", "merchant")
    page.fill("#id_password", "merchant-demo")
    page.click("input[type=submit]")
    page.wait_for_url(f"{demo_server}/dashboard/demo/", timeout=WAIT_MS)

    page.wait_for_selector("body[data-charts='drawn']", timeout=WAIT_MS)
    assert page.locator("#chart-trend .main-svg").count() >= 1
    assert page.locator("#chart-aspects .main-svg").count() >= 1
    all_products = int(page.locator("#fig-reviews").inner_text())
    assert all_products > 0
    assert page.locator("#negative mark.aspect").count() > 0

    page.select_option("select[name=product]", "KIT-1001")
    page.click("#filters button")
    page.wait_for_selector("body[data-charts='drawn']", timeout=WAIT_MS)
    assert "product=KIT-1001" in page.url
    assert 0 < int(page.locator("#fig-reviews").inner_text()) < all_products
    assert errors == []
