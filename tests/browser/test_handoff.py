"""Two real Chromium pages: a shopper asks for a human, an agent takes over from the admin.

The shopper's page and the agent's console talk through the real server (daphne, embedded
mode, the demo store with its trained intent model). The agent claims the conversation, replies
live, corrects an intent (visible afterwards as a training example) and hands back; the bot then
answers the shopper's next question.
"""

from __future__ import annotations

import re

from tests.browser.conftest import BROWSER_MARKS, watch_errors

pytestmark = BROWSER_MARKS

WAIT_MS = 60_000


def _login_agent(page, base):
    page.goto(f"{base}/admin/login/?next=/admin/")
    page.fill("#id_username", "agent")
    page.fill("#id_password", "agent-demo")
    page.click("input[type=submit]")
    page.wait_for_selector("#escalation-queue", timeout=WAIT_MS)


def test_agent_takes_over_replies_live_and_hands_back(demo_server, browser):
    shopper_context = browser.new_context()
    agent_context = browser.new_context()
    shopper = shopper_context.new_page()
    agent = agent_context.new_page()
    errors: list[str] = []
    for page in (shopper, agent):
        watch_errors(page, errors)

    shopper.goto(f"{demo_server}/s/demo/")
    shopper.click("#chat-launcher")
    shopper.wait_for_selector("#chat-panel[data-state='open']", timeout=WAIT_MS)
    shopper.fill("#chat-input", "can I talk to a human please")
    shopper.keyboard.press("Enter")
    banner = shopper.locator("#chat-handoff")
    banner.wait_for(state="visible", timeout=WAIT_MS)
    assert "member of our team" in banner.inner_text()

    _login_agent(agent, demo_server)
    assert int(agent.locator("#waiting-count").inner_text()) >= 1
    agent.click("#escalation-queue a")
    agent.fill("#searchbar", "can I talk to a human please")
    agent.keyboard.press("Enter")
    agent.locator("text=Open console").first.click()
    agent.wait_for_selector("#agent-console", timeout=WAIT_MS)
    assert "can I talk to a human please" in agent.locator("#console-log").inner_text()

    agent.click("#console-claim")
    agent.wait_for_selector("#agent-console[data-state='agent']", timeout=WAIT_MS)
    # Locators, not wait_for_function: the page's CSP refuses evaluated strings.
    shopper.locator("#chat-handoff", has_text="chatting with").wait_for(timeout=WAIT_MS)

    agent.wait_for_selector("#agent-console[data-connected='true']", timeout=WAIT_MS)
    agent.fill("#console-input", "Hi, this is our agent. How can I help?")
    agent.click("#console-send")
    reply = shopper.locator("#chat-log .message.agent").last
    reply.wait_for(timeout=WAIT_MS)
    assert "How can I help?" in reply.inner_text()

    # The shopper writes to the agent; it appears live in the console, the bot stays quiet.
    bots_before = shopper.locator("#chat-log .message.bot").count()
    shopper.fill("#chat-input", "my parcel never came, order SD-10004")
    shopper.keyboard.press("Enter")
    agent.locator(
        "#console-log .console-message.shopper", has_text="my parcel never came"
    ).wait_for(timeout=WAIT_MS)
    assert shopper.locator("#chat-log .message.bot").count() == bots_before

    # Correct the intent of the first message (reload shows the forms for live messages too).
    agent.reload()
    form = agent.locator("form.correct-intent").first
    form.locator("select[name=intent]").select_option("talk_to_human")
    form.locator("button").click()
    agent.wait_for_selector(".messagelist .success", timeout=WAIT_MS)
    agent.goto(f"{demo_server}/admin/intents/intentexample/?source__exact=agent")
    assert "can I talk to a human please" in agent.locator("#result_list").inner_text()
    agent.go_back()

    agent.click("#console-hand-back")
    agent.wait_for_selector("#agent-console[data-state='bot']", timeout=WAIT_MS)
    banner.wait_for(state="hidden", timeout=WAIT_MS)

    shopper.fill("#chat-input", "how much does shipping cost?")
    shopper.keyboard.press("Enter")
    shopper.locator("#chat-log .message.bot").nth(bots_before).wait_for(timeout=WAIT_MS)
    answer = shopper.locator("#chat-log .message.bot").last.inner_text()
    assert re.search(r"€4[.,]95", answer)
    assert errors == []
    shopper_context.close()
    agent_context.close()
