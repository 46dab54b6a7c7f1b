"""The dashboard in headless Chromium: the slot grid and a code's status follow the lock."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.gateway_support import GatewayProcess, eventually, write_config
from tests.support import require_binary

pytestmark = [pytest.mark.chromium, pytest.mark.slow]

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
LONG_NAME = "Maximilian Featherstonehaugh"


@pytest.fixture
def gateway(tmp_path: Path) -> Iterator[GatewayProcess]:
    process = GatewayProcess(write_config(tmp_path)).start()
    yield process
    assert process.stop() == 0


@pytest.fixture
def browser_page(tmp_path: Path) -> Iterator[Any]:
    chromium = require_binary("chromium", "apt-get install chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            yield page
            page.screenshot(path=str(tmp_path / "dashboard.png"), full_page=True)
        finally:
            browser.close()


def test_grid_and_status_update_when_a_code_is_set(
    gateway: GatewayProcess, browser_page: Any
) -> None:
    page = browser_page
    page.goto(f"{gateway.url}/#key={gateway.api_key}")
    page.wait_for_selector("#live.live", timeout=15000)
    page.wait_for_selector("article.lock .slot", timeout=15000)
    assert "key=" not in page.url  # the key leaves the address bar at once
    headers = {"Authorization": f"Bearer {gateway.api_key}"}
    with httpx.Client(base_url=gateway.url, headers=headers, timeout=10) as api:
        devices = api.get("/devices/list").json()["devices"]
        front = next(d["device_id"] for d in devices if d["display_name"] == "Front door")
        answer = api.post(
            "/access_codes/create",
            json={"device_id": front, "name": LONG_NAME, "code": "482193"},
        ).json()
        code_id = answer["access_code"]["access_code_id"]
        card = f'article.lock[data-device-id="{front}"]'
        row = page.wait_for_selector(f'{card} tr[data-access-code-id="{code_id}"]', timeout=15000)
        assert row is not None
        page.wait_for_selector(
            f'{card} tr[data-access-code-id="{code_id}"][data-status="set"]', timeout=30000
        )
        cell = page.wait_for_selector(
            f'{card} .slot[data-access-code-id="{code_id}"][data-state="managed"]', timeout=15000
        )
        assert cell is not None
        shown = eventually(
            lambda: api.get("/access_codes/get", params={"access_code_id": code_id}).json()[
                "access_code"
            ]["appearance"]
        )
        # the grid shows the name exactly as the lock does (Kwikset keeps 14 characters)
        assert cell.query_selector(".nm").inner_text() == shown["name"]
        assert shown["name"] != LONG_NAME
        free = page.query_selector_all(f'{card} .slot[data-state="free"]')
        assert len(free) == 29
    feed = page.inner_text("#feed")
    assert "access_code.set_on_device" in feed
