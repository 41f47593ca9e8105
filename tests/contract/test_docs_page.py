"""GET /docs in a real headless browser (Debian's chromium and chromedriver, driven by selenium)."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import WebDriverWait

from bridge.api.docs import document
from tests.conftest import Api

WAIT = 30  # seconds; the machine is shared


def _browser() -> WebDriver:
    chromium, driver = shutil.which("chromium"), shutil.which("chromedriver")
    assert chromium, "scripts/install installs Debian's chromium"
    assert driver, "scripts/install installs Debian's chromium-driver"
    opts = Options()
    opts.binary_location = chromium
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--window-size=1280,1600",
        "--no-first-run",
        "--disable-extensions",
    ):
        opts.add_argument(arg)
    return webdriver.Chrome(options=opts, service=Service(driver))


def _operations_in_document() -> int:
    """Operations and webhooks: the page shows one block for each."""
    doc = document()
    items = [*doc["paths"].values(), *doc["webhooks"].values()]
    return sum(1 for item in items for method in ("get", "put", "post", "delete") if method in item)


def _visit(base: str, shot: Path) -> dict[str, object]:
    """Opens /docs, counts the operations, runs 'Try it out' on GET /healthz."""
    browser = _browser()
    try:
        browser.get(f"{base}/docs")
        wait = WebDriverWait(browser, WAIT)
        wait.until(
            lambda b: len(b.find_elements(By.CSS_SELECTOR, ".opblock")) >= _operations_in_document()
        )
        listed = len(browser.find_elements(By.CSS_SELECTOR, ".opblock"))
        health = browser.find_element(By.ID, "operations-operations-getHealth")
        health.find_element(By.CSS_SELECTOR, ".opblock-summary-control").click()
        wait.until(lambda b: health.find_elements(By.CSS_SELECTOR, ".try-out__btn"))
        health.find_element(By.CSS_SELECTOR, ".try-out__btn").click()
        wait.until(lambda b: health.find_elements(By.CSS_SELECTOR, ".execute"))
        health.find_element(By.CSS_SELECTOR, ".execute").click()
        cell = ".live-responses-table tbody .response-col_status"
        wait.until(lambda b: health.find_elements(By.CSS_SELECTOR, cell))
        answer = health.find_element(By.CSS_SELECTOR, cell)
        status = answer.text.strip()
        browser.execute_script("arguments[0].scrollIntoView({block: 'center'})", answer)
        browser.save_screenshot(str(shot))
        loaded = browser.execute_script(
            "return performance.getEntriesByType('resource').map(e => e.name)"
        )
        return {"listed": listed, "status": status, "loaded": loaded}
    finally:
        browser.quit()


async def test_docs_page_lists_every_operation_and_tries_healthz(api: Api, tmp_path: Path) -> None:
    """The page renders the document from the package's assets only, and its 'Try it out' of
    GET /healthz gets 200 from the bridge."""
    base = str(api.client.make_url("")).rstrip("/")
    shot = tmp_path / "docs.png"
    seen = await asyncio.to_thread(_visit, base, shot)
    assert seen["listed"] == _operations_in_document()
    assert seen["status"] == "200"
    assert shot.stat().st_size > 10_000
    loaded = seen["loaded"]
    assert isinstance(loaded, list)
    assert f"{base}/uapi/openapi.json" in loaded
    assert f"{base}/healthz" in loaded
    assert all(str(url).startswith(base) for url in loaded), "no CDN: everything from the bridge"
