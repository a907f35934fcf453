"""The connections page in a real browser: Debian's Chromium driven by Playwright, against
Rookery and the Withings sandbox on loopback, on SQLite and on PostgreSQL. Connect, consent,
back connected, disconnect, a refused consent, connected again; a screenshot of each state (light,
dark, phone) is kept in `test-output/connections/<engine>/`, and in each state every piece of
text is checked for contrast against what is behind it, in both themes."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any, Final

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
PHONE: Final = {"width": 375, "height": 740}
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
def stack(make_settings: SettingsFactory, database_url: str) -> Iterator[Stack]:
    """Rookery (on the test's database) and the sandbox on loopback."""
    with ExitStack() as exits:
        yield start_stack(exits, make_settings, database_url)


@pytest.fixture
def client(stack: Stack) -> NewClient:
    """A client named "Acme Health" with Withings enabled."""

    async def create() -> NewClient:
        async with open_resources(stack.settings) as resources:
            client = await new_client(resources, name="Acme Health")
        await enable_withings(stack, client)
        return client

    return asyncio.run(create())


# WCAG 2.1 AA: 4.5:1 for text, 3:1 for large text (24 px, or 18.66 px bold).
CONTRAST_CHECK = """() => {
  const rgb = (value) => value.match(/[\\d.]+/g).map(Number);
  const luminance = ([r, g, b]) => {
    const linear = (c) => (c /= 255) <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
    return 0.2126 * linear(r) + 0.7152 * linear(g) + 0.0722 * linear(b);
  };
  const behind = (element) => {
    for (let node = element; node; node = node.parentElement) {
      const color = rgb(getComputedStyle(node).backgroundColor);
      if (color.length < 4 || color[3] > 0) return color.slice(0, 3);
    }
    return rgb(getComputedStyle(document.documentElement).backgroundColor).slice(0, 3);
  };
  const failures = [];
  for (const element of document.querySelectorAll("body *")) {
    const own = [...element.childNodes].some((n) => n.nodeType === 3 && n.textContent.trim());
    if (!own || !element.getClientRects().length) continue;
    const style = getComputedStyle(element);
    const [a, b] = [luminance(rgb(style.color)), luminance(behind(element))];
    const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
    const size = parseFloat(style.fontSize);
    const large = size >= 24 || (size >= 18.66 && Number(style.fontWeight) >= 700);
    if (ratio < (large ? 3 : 4.5)) {
      failures.push(`${element.tagName} "${element.textContent.trim().slice(0, 40)}": ` +
        `${ratio.toFixed(2)}`);
    }
  }
  return failures;
}"""


def _folder(stack: Stack) -> Path:
    return SCREENSHOTS / ("postgresql" if stack.settings.is_postgresql else "sqlite")


def _shoot(page: Page, folder: Path, name: str) -> None:
    """Save a screenshot of the page, after checking the contrast of its text."""
    assert page.evaluate(CONTRAST_CHECK) == [], name
    folder.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(folder / f"{name}.png"), full_page=True)


def _shoot_in(browser: Browser, url: str, folder: Path, name: str, **options: Any) -> None:
    """Open `url` in a fresh context (`options`: colour scheme, viewport) and shoot it."""
    context = browser.new_context(**options)
    try:
        page = context.new_page()
        page.goto(url)
        _shoot(page, folder, name)
    finally:
        context.close()


def _shoot_dark(browser: Browser, url: str, folder: Path, name: str) -> None:
    _shoot_in(browser, url, folder, name, color_scheme="dark")


def _consent(page: Page, decision: str) -> None:
    """On the sandbox's consent page: sign in as the sandbox's user, and decide."""
    expect(page.get_by_role("heading", name="Withings sandbox: authorize access")).to_be_visible()
    page.get_by_label("(userid 1001)").check()
    page.get_by_role("button", name=decision).click()


def test_connect_consent_and_disconnect_in_chromium(
    stack: Stack, client: NewClient, chromium: Browser
) -> None:
    url = stack.rookery_url + page_path(client, "user-1")
    folder = _folder(stack)
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
    expect(page.get_by_role("heading", name="What will be shared")).to_be_visible()
    _shoot(page, folder, "1-not-connected-light")
    _shoot_dark(chromium, url, folder, "1-not-connected-dark")
    _shoot_in(chromium, url, folder, "1-not-connected-phone", viewport=PHONE, is_mobile=True)

    # The keyboard reaches Connect, which shows where the focus is.
    page.keyboard.press("Tab")
    connect = page.get_by_role("button", name="Connect Withings")
    expect(connect).to_be_focused()
    assert connect.evaluate("b => getComputedStyle(b).outlineStyle") == "solid"
    page.keyboard.press("Enter")
    _consent(page, "Allow")

    expect(page.get_by_role("status")).to_have_text(
        "Withings is connected. Your data will start arriving shortly."
    )
    expect(page.locator("#withings-state")).to_have_text("Connected")
    expect(page.get_by_text("Since ")).to_be_visible()
    assert page.url == f"{url}?result=connected"
    _shoot(page, folder, "2-connected-light")
    _shoot_dark(chromium, page.url, folder, "2-connected-dark")
    _shoot_in(chromium, page.url, folder, "2-connected-phone", viewport=PHONE, is_mobile=True)

    page.get_by_role("button", name="Disconnect Withings").click()
    expect(page.get_by_role("status")).to_have_text(
        "Withings is disconnected. No more data will be shared."
    )
    expect(page.locator("#withings-state")).to_have_text("Not connected")
    expect(page.get_by_role("button", name="Connect Withings")).to_be_visible()
    _shoot(page, folder, "3-disconnected-light")
    _shoot_dark(chromium, page.url, folder, "3-disconnected-dark")

    page.get_by_role("button", name="Connect Withings").click()
    _consent(page, "Deny")
    expect(page.get_by_role("status")).to_have_text(
        "You did not allow access, so nothing was connected."
    )
    expect(page.locator("#withings-state")).to_have_text("Not connected")
    assert page.url == f"{url}?result=denied"
    _shoot(page, folder, "4-denied-light")
    _shoot_dark(chromium, page.url, folder, "4-denied-dark")

    # A consent that failed (an expired code, Withings down) shows the same way; the page only
    # reads `result` to say so.
    _shoot_in(chromium, f"{url}?result=failed", folder, "5-failed-light", color_scheme="light")
    _shoot_dark(chromium, f"{url}?result=failed", folder, "5-failed-dark")

    page.get_by_role("button", name="Connect Withings").click()  # linking again works
    _consent(page, "Allow")
    expect(page.locator("#withings-state")).to_have_text("Connected")
    assert problems == []  # no CSP violation, no missing asset
    context.close()
