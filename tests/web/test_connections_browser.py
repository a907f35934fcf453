"""The connections page in a real browser: Debian's Chromium driven by Playwright, against
Rookery and the Withings sandbox on loopback. Connect, consent, back connected, disconnect;
a screenshot of each state (light, dark, phone) is kept in `test-output/connections/`."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, expect, sync_playwright
from playwright.sync_api import Response as PlaywrightResponse

from rookery.app import open_resources
from rookery.store.clients import NewClient
from tests.conftest import SettingsFactory
from tests.connections.stack import Stack, enable_withings, new_client, page_path, start_stack

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-output" / "connections"


@pytest.fixture
def chromium(client: NewClient) -> Iterator[Browser]:
    """Debian's Chromium (Playwright's own download does not work here). Started after the
    servers and the client: Playwright's sync API runs an event loop in this thread."""
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is not installed")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def stack(make_settings: SettingsFactory, sqlite_url: str) -> Iterator[Stack]:
    """Rookery and the sandbox on loopback."""
    with ExitStack() as exits:
        yield start_stack(exits, make_settings, sqlite_url)


@pytest.fixture
def client(stack: Stack) -> NewClient:
    """A client named "Acme Health" with Withings enabled."""

    async def create() -> NewClient:
        async with open_resources(stack.settings) as resources:
            client = await new_client(resources, name="Acme Health")
        await enable_withings(stack, client)
        return client

    return asyncio.run(create())


def _shoot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def _shoot_dark(browser: Browser, url: str, name: str) -> None:
    context = browser.new_context(color_scheme="dark")
    try:
        page = context.new_page()
        page.goto(url)
        _shoot(page, name)
    finally:
        context.close()


def test_connect_consent_and_disconnect_in_chromium(
    stack: Stack, client: NewClient, chromium: Browser
) -> None:
    url = stack.rookery_url + page_path(client, "user-1")
    context = chromium.new_context(color_scheme="light", viewport={"width": 1024, "height": 800})
    page = context.new_page()
    # Rookery's own pages only: the sandbox's consent page is not under test here.
    problems: list[str] = []

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error" and message.location.get("url", "").startswith(
            stack.rookery_url
        ):
            problems.append(message.text)

    def on_response(response: PlaywrightResponse) -> None:
        if response.status >= 400 and response.url.startswith(stack.rookery_url):
            problems.append(f"{response.status} {response.url}")

    page.on("console", on_console)
    page.on("response", on_response)

    page.goto(url)
    expect(page.get_by_role("heading", name="Connect your health data")).to_be_visible()
    expect(page.get_by_text("Acme Health").first).to_be_visible()
    expect(page.locator("#withings-state")).to_have_text("Not connected")
    _shoot(page, "1-not-connected-light")
    _shoot_dark(chromium, url, "1-not-connected-dark")

    page.get_by_role("button", name="Connect Withings").click()
    expect(page.get_by_role("heading", name="Withings sandbox: authorize access")).to_be_visible()
    page.get_by_label("(userid 1001)").check()
    page.get_by_role("button", name="Allow").click()

    expect(page.get_by_role("status")).to_have_text(
        "Withings is connected. Your data will start arriving shortly."
    )
    expect(page.locator("#withings-state")).to_have_text("Connected")
    expect(page.get_by_text("Since ")).to_be_visible()
    assert page.url == f"{url}?result=connected"
    _shoot(page, "2-connected-light")
    _shoot_dark(chromium, page.url, "2-connected-dark")
    phone = chromium.new_context(viewport={"width": 375, "height": 740}, is_mobile=True)
    phone_page = phone.new_page()
    phone_page.goto(page.url)
    _shoot(phone_page, "2-connected-phone")
    phone.close()

    page.get_by_role("button", name="Disconnect Withings").click()
    expect(page.get_by_role("status")).to_have_text(
        "Withings is disconnected. No more data will be shared."
    )
    expect(page.locator("#withings-state")).to_have_text("Not connected")
    expect(page.get_by_role("button", name="Connect Withings")).to_be_visible()
    _shoot(page, "3-disconnected-light")
    _shoot_dark(chromium, page.url, "3-disconnected-dark")
    assert problems == []  # no CSP violation, no missing asset
    context.close()
