"""The dashboard in a real browser (Debian's Chromium through Playwright) against `rookery demo`:
link a sandbox user on the connections page, let the backfill deliver, sign in as the operator,
check that the charts carry the stored numbers (sleep stages per night, weigh-ins) and that
Redeliver sends a delivery again. Screenshots (light, dark, phone) go to
`test-output/dashboard/`."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import httpx2
import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, expect, sync_playwright
from playwright.sync_api import Response as PlaywrightResponse

from tests.cli.demo_process import DASHBOARD_LINE, PAGE_LINE, START_TIMEOUT_S, Demo, running_demo
from tests.web.test_connections_browser import CHROMIUM, CHROMIUM_ARGS

pytestmark = [pytest.mark.browser, pytest.mark.timeout(300)]

SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-output" / "dashboard"
BACKFILL_DAYS = 7


@pytest.fixture
def chromium() -> Iterator[Browser]:
    """Debian's Chromium (Playwright's own download does not work here)."""
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is not installed")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[Demo]:
    """`rookery demo` running on free ports with a short backfill."""
    with running_demo(tmp_path / "demo", backfill_days=BACKFILL_DAYS) as running:
        yield running


def _shoot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def _wait(predicate: Any, what: str, timeout_s: float = 90.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.25)


def _stored(http: httpx2.Client, path: str, user_id: str, day: date) -> dict[str, Any] | None:
    """The query API's document of one day (None: 204)."""
    answer = http.get(path, params={"user_id": user_id, "date": day.isoformat()})
    assert answer.status_code in (200, 204), answer.text
    return None if answer.status_code == 204 else dict(answer.json())


def _sign_in(page: Page, base: str, token: str) -> None:
    page.goto(base + "/dashboard")
    expect(page.get_by_role("heading", name="Sign in to the dashboard")).to_be_visible()
    page.get_by_label("Admin token").fill(token)
    page.get_by_role("button", name="Sign in as operator").click()
    expect(page.get_by_role("heading", name="Clients")).to_be_visible()


def test_dashboard_shows_the_users_data_and_redelivers(
    demo: Demo, chromium: Browser, tmp_path: Path
) -> None:
    page_url = demo.wait_for(PAGE_LINE, START_TIMEOUT_S)["url"]
    dashboard_url = demo.wait_for(DASHBOARD_LINE, 5)["url"]
    base = dashboard_url.removesuffix("/dashboard")
    user_id = page_url.rsplit("/", 1)[1]
    userid = user_id.removeprefix("withings-")
    credentials = json.loads((tmp_path / "demo" / "client.json").read_text())
    admin_token = (tmp_path / "demo" / "admin.token").read_text().strip()
    problems: list[str] = []

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error":
            problems.append(message.text)

    def on_response(response: PlaywrightResponse) -> None:
        if response.status >= 400 and response.url.startswith(base):
            problems.append(f"{response.status} {response.url}")

    context = chromium.new_context(color_scheme="light", viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.on("console", on_console)
    page.on("response", on_response)

    # A user links Withings in the browser: the connections page, the sandbox's consent page.
    page.goto(page_url)
    page.get_by_role("button", name="Connect Withings").click()
    page.get_by_label(f"(userid {userid})").check()
    page.get_by_role("button", name="Allow").click()
    expect(page.locator("#withings-state")).to_have_text("Connected")

    auth = (credentials["client_uuid"], credentials["secret_key"])
    with httpx2.Client(base_url=base, auth=auth, timeout=30) as http:

        def settled() -> bool:
            sync = http.get(f"/api/v1/client/users/{user_id}/sync").json()
            pending = http.get("/api/v1/client/deliveries", params={"status": "pending"}).json()
            return bool(
                sync["backfill"]["status"] == "done"
                and sync["pending_fetches"] == 0
                and not pending["deliveries"]
            )

        _wait(settled, "the backfill to be delivered")
        timezone = http.get(f"/api/v1/client/users/{user_id}/sync").json()["timezone"]
        assert timezone
        today = date.fromisoformat(
            page.evaluate(
                "tz => new Intl.DateTimeFormat('en-CA', {timeZone: tz}).format(new Date())",
                timezone,
            )
        )
        first = today - timedelta(days=BACKFILL_DAYS + 1)
        days = [first + timedelta(days=n) for n in range((today - first).days + 1)]
        nights = {
            day: document["sleep_health"]["summary"]["sleep_summary"]["duration"]
            for day in days
            if (document := _stored(http, "/v2/processed_data/sleep_health/summary", user_id, day))
        }
        weights = sorted(
            event["body_metrics"]["weight_kg_float"]
            for day in days
            if (
                document := _stored(
                    http, "/v2/processed_data/body_health/events/body_metrics", user_id, day
                )
            )
            for event in document["body_health"]["events"]["body_metrics_event"]
            if event["body_metrics"]["weight_kg_float"] is not None
        )
    assert nights, "the sandbox user slept in the backfilled days"
    assert weights, "the sandbox user weighed in during the backfilled days"

    # The operator signs in; no token in any URL.
    _sign_in(page, base, admin_token)
    _shoot(page, "1-overview-light")
    page.get_by_role("link", name="Rookery demo").click()
    expect(page.locator(f'#users tr[data-user="{user_id}"]')).to_contain_text("linked")
    _shoot(page, "2-client-light")
    assert admin_token not in page.url

    # The user's page over the backfilled days.
    user_page = f"{base}/dashboard/clients/{credentials['client_uuid']}/users/{user_id}"
    page.goto(f"{user_page}?from={first.isoformat()}&to={today.isoformat()}")
    expect(page.get_by_role("heading", name=user_id)).to_be_visible()
    expect(page.locator("#sync")).to_contain_text("done")
    _shoot(page, "3-user-light")

    # Each night's bar is its stored stage durations, segment by segment.
    segments = page.locator("#sleep-stages rect.bar")
    drawn: dict[tuple[str, str], float] = {}
    for index in range(segments.count()):
        segment = segments.nth(index)
        key = (segment.get_attribute("data-day") or "", segment.get_attribute("data-part") or "")
        drawn[key] = float(segment.get_attribute("data-value") or "nan") * 3600
        assert segment.bounding_box() is not None  # rendered, not just in the markup
    expected_stages = {
        (day.isoformat(), part): float(duration[field])
        for day, duration in nights.items()
        for part, field in (
            ("deep", "deep_sleep_duration_seconds_int"),
            ("light", "light_sleep_duration_seconds_int"),
            ("rem", "rem_sleep_duration_seconds_int"),
            ("awake", "time_awake_during_sleep_seconds_int"),
        )
        if duration[field]
    }
    assert drawn.keys() == expected_stages.keys()
    for key, seconds in expected_stages.items():
        assert drawn[key] == pytest.approx(seconds), key
    # One pixel scale for every segment: a segment's drawn height is proportional to its value.
    ratios = {
        round(float(segments.nth(i).get_attribute("height") or 0) / drawn[key], 4)
        for i, key in enumerate(drawn)
    }
    assert len(ratios) == 1

    # The weight points are the stored weigh-ins.
    points = page.locator("#weight circle.point")
    drawn_weights = sorted(
        float(points.nth(i).get_attribute("data-value") or "nan") for i in range(points.count())
    )
    assert drawn_weights == pytest.approx(weights)

    dark = chromium.new_context(color_scheme="dark", viewport={"width": 1280, "height": 900})
    dark_page = dark.new_page()
    _sign_in(dark_page, base, admin_token)
    dark_page.goto(page.url)
    _shoot(dark_page, "3-user-dark")
    dark.close()
    phone = chromium.new_context(viewport={"width": 390, "height": 844}, is_mobile=True)
    phone_page = phone.new_page()
    _sign_in(phone_page, base, admin_token)
    phone_page.goto(page.url)
    _shoot(phone_page, "3-user-phone")
    phone_page.locator("#sleep-stages").screenshot(path=str(SCREENSHOTS / "3-user-phone-chart.png"))
    phone.close()

    # Redeliver a delivered sleep summary: a new message goes out and is delivered.
    page.goto(f"{base}/dashboard/clients/{credentials['client_uuid']}?status=delivered")
    row = page.locator("#deliveries tbody tr", has_text="sleep_summary").first
    original = row.get_attribute("data-delivery")
    demo.drain()
    row.get_by_role("button", name="Redeliver").click()
    expect(page.get_by_role("status")).to_contain_text("Redelivery queued")

    def redelivered() -> bool:
        page.goto(f"{base}/dashboard/clients/{credentials['client_uuid']}?status=delivered")
        newest = page.locator("#deliveries tbody tr").first
        return (
            newest.get_attribute("data-delivery") != original
            and "redelivery" in newest.inner_text()
            and newest.get_attribute("data-attempts") == "1"
        )

    _wait(redelivered, "the redelivery to be delivered", timeout_s=30)
    _shoot(page, "4-redelivered-light")
    # The receiver got it again, signatures right (the demo printed it).
    demo.wait_for(re.compile(rf"sleep_summary\s+{user_id}\s.*signed ✓"), 5, new_only=True)
    assert problems == []  # no CSP violation, no missing asset, no error page
    context.close()
