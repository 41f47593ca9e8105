"""The live call board in a real headless Chromium against the sandbox Asterisk."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from selenium import webdriver
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webelement import WebElement

from bridge.ami.client import AmiClient
from tests.conftest import CRM
from tests.polling import until
from tests.system.conftest import Sandbox
from tests.system.daemon import RunningBridge
from tests.system.test_make_call import all_up, hang_up, legs, make_call, view

pytestmark = pytest.mark.system
CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"


@pytest.fixture
def browser() -> Iterator[webdriver.Chrome]:
    """Debian's headless Chromium driven by its chromedriver (scripts/install puts both)."""
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--window-size=1100,700",
        "--disable-gpu",
    ):
        options.add_argument(arg)
    driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
    try:
        yield driver
    finally:
        driver.quit()


def poll(find: Callable[[], Any], within: float, what: str, step: float = 0.05) -> Any:
    """Returns the first truthy `find()`; fails after `within` seconds."""
    deadline = time.monotonic() + within
    while True:
        try:
            found = find()
        except WebDriverException:  # the node changed under us (a re-render): look again
            found = None
        if found:
            return found
        if time.monotonic() > deadline:
            pytest.fail(f"not within {within} s: {what}")
        time.sleep(step)


def message(driver: webdriver.Chrome) -> tuple[str, str]:
    node = driver.find_element(By.ID, "message")
    return node.get_attribute("data-state") or "", node.text


def card(driver: webdriver.Chrome, call_id: str) -> WebElement | None:
    found = driver.find_elements(By.CSS_SELECTOR, f'article[data-call-id="{call_id}"]')
    return found[0] if found else None


def statuses(driver: webdriver.Chrome, call_id: str) -> dict[str, str]:
    """{extension: status word} of the call's card ({} without a card)."""
    found = card(driver, call_id)
    if found is None:
        return {}
    return {
        row.get_attribute("data-extension") or "": row.get_attribute("data-status") or ""
        for row in found.find_elements(By.CSS_SELECTOR, "li.party")
    }


def call_legs(sandbox: Sandbox) -> set[str]:
    """Channels of 210 and 024 that Asterisk has now (`core show channels concise`)."""
    return {n for n in sandbox.channel_names() if n.startswith(("PJSIP/210-", "PJSIP/024-"))}


async def test_a_real_call_shows_live_and_hangs_up_from_the_board(
    bridge: RunningBridge,
    ami: AmiClient,
    sandbox: Sandbox,
    browser: webdriver.Chrome,
    tmp_path: Path,
) -> None:
    """210 -> 024 placed through the API: its card shows both talking within 2 s of the
    answer; Hang up ends it on Asterisk and the card goes away."""
    browser.get(f"{bridge.url}/board#token={CRM}")
    await asyncio.to_thread(poll, lambda: message(browser)[0] == "live", 10, "the stream is live")
    assert "token" not in browser.current_url  # the token left the address bar
    assert not browser.find_element(By.ID, "login").is_displayed()
    _, body = await asyncio.to_thread(make_call, bridge, view(["210"], "024"))
    call_id = body[0]["id"]
    try:
        await until(all_up(ami, call_id, "PJSIP/210", "PJSIP/024"), 10)
        answered = time.monotonic()
        want = {"0003*210": "talking", "0003*024": "talking"}
        await asyncio.to_thread(
            poll,
            lambda: statuses(browser, call_id) == want,
            2.0,
            f"both talking on the card of {call_id}",
        )
        lag = time.monotonic() - answered
        await asyncio.sleep(1.2)  # let the durations tick once for the picture
        browser.save_screenshot(str(tmp_path / "board-call.png"))
        assert call_legs(sandbox), "Asterisk shows the call's channels"
        found = card(browser, call_id)
        assert found is not None
        found.find_element(By.CSS_SELECTOR, 'button[data-action="hangup"]').click()
        await asyncio.to_thread(
            poll, lambda: not call_legs(sandbox), 5, "Asterisk has no channel of 210 or 024 left"
        )
        await asyncio.to_thread(poll, lambda: card(browser, call_id) is None, 2, "the card is gone")
        browser.save_screenshot(str(tmp_path / "board-after-hangup.png"))
    finally:
        if await legs(ami, call_id):
            await hang_up(ami, call_id)
    assert lag < 2.0
    assert message(browser)[0] == "live"
    errors = [
        e
        for e in browser.get_log("browser")  # type: ignore[no-untyped-call]
        if e["level"] == "SEVERE"
    ]
    assert not errors, errors


def click(driver: webdriver.Chrome, call_id: str, action: str) -> bool:
    """Clicks a button of the call's card (False if it is not there, e.g. mid re-render)."""
    found = card(driver, call_id)
    buttons = (
        found.find_elements(By.CSS_SELECTOR, f'button[data-action="{action}"]')
        if (found is not None)
        else []
    )
    if not buttons or not buttons[0].is_enabled():
        return False
    buttons[0].click()
    return True


def unpark_to(driver: webdriver.Chrome, call_id: str, number: str) -> bool:
    """Types `number` beside the parked party and clicks Unpark."""
    found = card(driver, call_id)
    if found is None or not found.find_elements(By.CSS_SELECTOR, ".unpark input"):
        return False
    box = found.find_element(By.CSS_SELECTOR, ".unpark input")
    box.clear()
    box.send_keys(number)
    found.find_element(By.CSS_SELECTOR, 'button[data-action="unpark"]').click()
    return True


async def test_hold_resume_park_and_unpark_from_the_board(
    bridge: RunningBridge, ami: AmiClient, browser: webdriver.Chrome, tmp_path: Path
) -> None:
    """210 -> 5551234: Hold puts the public party on hold, Resume brings both back to talking,
    Park parks it, Unpark to 024 has 024 and 5551234 talking; the card follows each step."""
    browser.get(f"{bridge.url}/board#token={CRM}")
    await asyncio.to_thread(poll, lambda: message(browser)[0] == "live", 10, "the stream is live")
    _, body = await asyncio.to_thread(make_call, bridge, view(["210"], "5551234"))
    call_id = body[0]["id"]

    async def step(action: str, want: dict[str, str], shot: str) -> None:
        await asyncio.to_thread(poll, lambda: click(browser, call_id, action), 5, action)
        await asyncio.to_thread(
            poll, lambda: _has(statuses(browser, call_id), want), 10, f"{want} after {action}"
        )
        browser.save_screenshot(str(tmp_path / f"board-{shot}.png"))

    try:
        talking = {"0003*210": "talking", "5551234": "talking"}
        await asyncio.to_thread(
            poll, lambda: statuses(browser, call_id) == talking, 10, "both talking"
        )
        await step("hold", {"5551234": "on hold"}, "held")
        await step("offhold", talking, "resumed")
        await step("park", {"5551234": "parked"}, "parked")
        await asyncio.to_thread(poll, lambda: unpark_to(browser, call_id, "024"), 5, "unpark")
        await asyncio.to_thread(
            poll,
            lambda: _has(statuses(browser, call_id), {"0003*024": "talking", "5551234": "talking"}),
            10,
            "024 and 5551234 talking after Unpark",
        )
        browser.save_screenshot(str(tmp_path / "board-unparked.png"))
        assert message(browser)[0] == "live", message(browser)
    finally:
        if await legs(ami, call_id):
            await hang_up(ami, call_id)


def _has(shown: dict[str, str], want: dict[str, str]) -> bool:
    return all(shown.get(k) == v for k, v in want.items())


def test_the_board_says_when_the_stream_drops_and_reconnects(
    bridge: RunningBridge, browser: webdriver.Chrome, tmp_path: Path
) -> None:
    """The daemon stops: the page says the stream dropped; it comes back: live again."""
    browser.get(f"{bridge.url}/board#token={CRM}")
    poll(lambda: message(browser)[0] == "live", 10, "the stream is live")
    bridge.stop()
    state = poll(
        lambda: message(browser)[0] == "dropped" and message(browser), 10, "the drop is shown"
    )
    browser.save_screenshot(str(tmp_path / "board-dropped.png"))
    assert "reconnecting" in state[1].lower()
    bridge.start()
    poll(lambda: message(browser)[0] == "live", 20, "live again without a reload")


def test_a_wrong_token_is_refused_on_the_board(
    bridge: RunningBridge, browser: webdriver.Chrome, tmp_path: Path
) -> None:
    """A token the bridge does not know: the page says it was refused and asks again."""
    browser.get(f"{bridge.url}/board#token=not-a-token-0123456789")
    state = poll(
        lambda: message(browser)[0] in ("refused", "live") and message(browser),
        10,
        "an answer to the token",
    )
    browser.save_screenshot(str(tmp_path / "board-refused.png"))
    assert state[0] == "refused"
    assert "Token refused" in state[1]
    assert browser.find_element(By.ID, "login").is_displayed()
