"""The consent page in Debian's Chromium: what a person sees, and what a browser test drives.

Screenshots (light and dark, wide and narrow) go to test-output/sandbox/ for people to look at;
the assertions cover accessible names, keyboard focus, contrast and the login itself.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Final, Literal
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from rookery.sandbox.server import create_sandbox_app
from rookery.sandbox.settings import SandboxSettings
from rookery.sandbox.synth import generate_population
from tests.sandbox.conftest import CLIENT_ID
from tests.sandbox.servers import Receiver, ServerPool

pytestmark = pytest.mark.browser

CHROMIUM: Final = "/usr/bin/chromium"
CHROMIUM_ARGS: Final = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SHOTS: Final = Path(__file__).resolve().parents[2] / "test-output" / "sandbox"
NOW: Final = dt.datetime(2025, 3, 1, 12, tzinfo=dt.UTC)
Scheme = Literal["light", "dark"]


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is not installed")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture
def consent_url(server_pool: ServerPool) -> Iterator[tuple[str, str]]:
    """The authorize URL of a sandbox of 12 generated users, and its redirect_uri."""
    population = generate_population(12, 3, now_utc=NOW, history_days=2)
    app = create_sandbox_app(SandboxSettings(clock_speed=0.0), population)
    with server_pool.serving(app) as url, server_pool.serving(Receiver()) as back:
        query = {
            "response_type": "code",
            "client_id": CLIENT_ID,
            "redirect_uri": f"{back}/callback",
            "state": "br0wser",
            "scope": "user.info,user.metrics,user.activity",
        }
        yield f"{url}/oauth2_user/authorize2?{urlencode(query)}", f"{back}/callback"


def _open(browser: Browser, url: str, scheme: Scheme, width: int, height: int) -> Page:
    context = browser.new_context(color_scheme=scheme, viewport={"width": width, "height": height})
    page = context.new_page()
    page.goto(url)
    return page


def _rgb(css: str) -> tuple[float, ...]:
    numbers = re.findall(r"[\d.]+", css)
    return tuple(float(n) for n in numbers[:3])


def _luminance(rgb: tuple[float, ...]) -> float:
    def channel(value: float) -> float:
        c = value / 255
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(v) for v in rgb)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def _contrast(one: str, two: str) -> float:
    high, low = sorted((_luminance(_rgb(one)), _luminance(_rgb(two))), reverse=True)
    return (high + 0.05) / (low + 0.05)


def _style(page: Page, selector: str, prop: str) -> str:
    value: str = page.eval_on_selector(selector, f"e => getComputedStyle(e).{prop}")
    return value


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_consent_page_is_readable_and_named(
    browser: Browser, consent_url: tuple[str, str], scheme: Scheme
) -> None:
    url, _ = consent_url
    page = _open(browser, url, scheme, 1024, 760)
    page.screenshot(path=str(SHOTS / f"consent-{scheme}.png"), full_page=True)
    radios = page.get_by_role("radio")
    assert radios.count() == 12
    first = radios.first
    assert first.is_checked()
    name = re.compile(r"^[A-Z][a-z]+ [A-Z]\. \(userid \d+\)$")
    for index in range(radios.count()):
        label = radios.nth(index).evaluate("e => e.labels[0].innerText")
        assert name.match(label), label
        assert page.get_by_role("radio", name=label, exact=True).count() == 1
    for scope in ("user.info", "user.metrics", "user.activity"):
        assert page.get_by_role("checkbox", name=re.compile(f"^{re.escape(scope)}: ")).is_checked()
    assert page.get_by_role("button", name="Allow", exact=True).is_visible()
    assert page.get_by_role("button", name="Deny", exact=True).is_visible()
    # Text and controls keep WCAG AA contrast on the card in both schemes.
    card = _style(page, "main", "backgroundColor")
    assert _contrast(_style(page, "main", "color"), card) >= 7
    assert _contrast(_style(page, ".muted", "color"), card) >= 4.5
    allow = 'button[value="allow"]'
    assert _contrast(_style(page, allow, "color"), _style(page, allow, "backgroundColor")) >= 4.5
    assert _contrast(_style(page, allow, "borderTopColor"), card) >= 3
    # Keyboard: Tab reaches the user choice first, and focus is drawn clearly.
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.name") == "userid"
    outline = _style(page, ":focus-visible", "outlineStyle")
    assert outline == "solid"
    page.screenshot(path=str(SHOTS / f"consent-{scheme}-focus.png"))
    page.context.close()


def test_consent_page_fits_a_phone_and_logs_in(
    browser: Browser, consent_url: tuple[str, str]
) -> None:
    url, redirect_uri = consent_url
    page = _open(browser, url, "light", 375, 740)
    page.screenshot(path=str(SHOTS / "consent-phone.png"), full_page=True)
    overflow = page.evaluate("document.documentElement.scrollWidth > window.innerWidth")
    assert not overflow, "the page scrolls sideways on a phone"
    allow_box = page.get_by_role("button", name="Allow").bounding_box()
    assert allow_box is not None
    assert allow_box["height"] >= 44  # a comfortable touch target
    third = page.get_by_role("radio").nth(2)
    third.check()
    userid = third.get_attribute("value")
    page.get_by_role("checkbox", name=re.compile("^user.info: ")).uncheck()
    with page.expect_navigation():
        page.get_by_role("button", name="Allow").click()
    landed = urlsplit(page.url)
    assert page.url.startswith(redirect_uri)
    query = parse_qs(landed.query)
    assert query["state"] == ["br0wser"]
    assert len(query["code"][0]) == 40
    assert userid is not None
    page.context.close()


def test_demo_mode_shows_no_user_choice(browser: Browser, consent_url: tuple[str, str]) -> None:
    url, _ = consent_url
    page = _open(browser, f"{url}&mode=demo", "dark", 1024, 600)
    page.screenshot(path=str(SHOTS / "consent-demo-dark.png"), full_page=True)
    assert page.get_by_role("radio").count() == 0
    assert "demo user" in page.locator("#demo-user").inner_text()
    page.context.close()
