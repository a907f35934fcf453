"""The dashboard in a real browser (Debian's Chromium through Playwright) against `rookery demo`:
link a sandbox user on the connections page, let a month of backfill deliver, sign in as the
operator, check that every chart carries the stored numbers of that month (read back through
the query API) on the user's local dates, that the range selector narrows them, that the
client's own credentials see the same user and nothing else, and that Redeliver sends a
delivery again. Screenshots (light, dark, phone) go to `test-output/dashboard/`."""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx2
import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, expect, sync_playwright
from playwright.sync_api import Response as PlaywrightResponse

from tests.cli.demo_process import DASHBOARD_LINE, PAGE_LINE, START_TIMEOUT_S, Demo, running_demo
from tests.web.test_connections_browser import CHROMIUM, CHROMIUM_ARGS

pytestmark = [pytest.mark.browser, pytest.mark.timeout(300)]

SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-output" / "dashboard"
# A month, as the acceptance asks: the charts show a sandbox user's month of data.
BACKFILL_DAYS = 30
READER_ZONE = "Asia/Kolkata"


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


Drawn = dict[tuple[str, ...], float]
STAGES = (
    ("deep", "deep_sleep_duration_seconds_int"),
    ("light", "light_sleep_duration_seconds_int"),
    ("rem", "rem_sleep_duration_seconds_int"),
    ("awake", "time_awake_during_sleep_seconds_int"),
)
SLEEP_HR = (("max", "hr_maximum_bpm_int"), ("avg", "hr_avg_bpm_int"), ("min", "hr_minimum_bpm_int"))


def _stored_month(
    http: httpx2.Client, user_id: str, days: list[date], zone: ZoneInfo
) -> dict[str, Drawn]:
    """What each chart must draw, from the query API day by day: keyed like `_drawn`, each
    value on the local day the query API filed it under (and, for a reading, at its moment in
    the user's time zone)."""
    stored: dict[str, Drawn] = {
        name: {}
        for name in (
            "sleep stages",
            "sleep heart rate",
            "steps",
            "active minutes",
            "weight",
            "blood pressure",
            "SpO2",
        )
    }

    def at(metadata: dict[str, Any]) -> str:
        return datetime.fromisoformat(metadata["datetime_string"]).astimezone(zone).isoformat()

    for day in days:
        iso = day.isoformat()
        if sleep := _stored(http, "/v2/processed_data/sleep_health/summary", user_id, day):
            summary = sleep["sleep_health"]["summary"]["sleep_summary"]
            for part, field in STAGES:
                if seconds := summary["duration"][field]:
                    stored["sleep stages"][iso, part] = seconds / 3600
            for part, field in SLEEP_HR:
                if (bpm := summary["heart_rate"][field]) is not None:
                    stored["sleep heart rate"][iso, part] = float(bpm)
        if physical := _stored(http, "/v2/processed_data/physical_health/summary", user_id, day):
            summary = physical["physical_health"]["summary"]["physical_summary"]
            if (steps := summary["distance"]["steps_int"]) is not None:
                stored["steps"][iso, "steps"] = float(steps)
            if active_s := summary["activity"]["active_seconds_int"]:
                stored["active minutes"][iso, "active"] = active_s / 60
        events = "/v2/processed_data/body_health/events/"
        if metrics := _stored(http, events + "body_metrics", user_id, day):
            for event in metrics["body_health"]["events"]["body_metrics_event"]:
                if (kg := event["body_metrics"]["weight_kg_float"]) is not None:
                    stored["weight"][iso, at(event["metadata"]), "weight"] = kg
        if pressure := _stored(http, events + "blood_pressure", user_id, day):
            for event in pressure["body_health"]["events"]["blood_pressure_event"]:
                average = event["blood_pressure"]["blood_pressure_avg_object"]
                moment = at(event["metadata"])
                stored["blood pressure"][iso, moment, "systolic"] = float(
                    average["systolic_mmHg_int"]
                )
                stored["blood pressure"][iso, moment, "diastolic"] = float(
                    average["diastolic_mmHg_int"]
                )
        if oxygen := _stored(http, events + "oxygenation", user_id, day):
            for event in oxygen["body_health"]["events"]["oxygenation_event"]:
                if (spo2 := event["oxygenation"]["saturation_avg_percentage_int"]) is not None:
                    stored["SpO2"][iso, at(event["metadata"]), "spo2"] = float(spo2)
    return stored


def _drawn(page: Page, selector: str, key: str) -> Drawn:
    """The values a chart draws (`data-value`), keyed by (day, part) for bars and per-day
    points, or (day, moment, part) for readings placed at their moment."""
    drawn: Drawn = {}
    for shape in page.locator(selector).all():
        attributes = (
            ["data-day", "data-at", "data-part"] if key == "at" else ["data-day", "data-part"]
        )
        drawn[tuple(shape.get_attribute(name) or "" for name in attributes)] = float(
            shape.get_attribute("data-value") or "nan"
        )
    return drawn


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

    # The reader is in Kolkata (+05:30), neither the user's zone nor UTC.
    context = chromium.new_context(
        color_scheme="light",
        viewport={"width": 1280, "height": 900},
        timezone_id=READER_ZONE,
        locale="en-GB",
    )
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
        stored = _stored_month(http, user_id, days, ZoneInfo(timezone))
    # The demo's first user owns every device the sandbox simulates: every chart has data.
    for name, values in stored.items():
        assert values, f"the sandbox user has no {name} in the backfilled month"

    # The operator signs in; no token in any URL.
    _sign_in(page, base, admin_token)
    _shoot(page, "1-overview-light")
    page.get_by_role("link", name="Rookery demo").click()
    expect(page.locator(f'#users tr[data-user="{user_id}"]')).to_contain_text("linked")
    _shoot(page, "2-client-light")
    # The delivery log's instants are the reader's wall clock; its heading names the zone.
    zone_heading = page.locator("#deliveries thead [data-local-zone]")
    expect(zone_heading).not_to_have_text("(UTC)")
    assert zone_heading.inner_text() == page.evaluate(
        """() => `(${new Intl.DateTimeFormat(undefined, {timeZoneName: "shortGeneric"})
            .formatToParts(new Date()).find((part) => part.type === "timeZoneName").value})`"""
    )
    created = page.locator("#deliveries tbody time").first
    stamp = datetime.fromisoformat(created.get_attribute("datetime") or "")
    expect(created).to_have_text(f"{stamp.astimezone(ZoneInfo(READER_ZONE)):%Y-%m-%d %H:%M:%S}")
    assert admin_token not in page.url

    # The user's page over the backfilled days.
    user_page = f"{base}/dashboard/clients/{credentials['client_uuid']}/users/{user_id}"
    page.goto(f"{user_page}?from={first.isoformat()}&to={today.isoformat()}")
    expect(page.get_by_role("heading", name=user_id)).to_be_visible()
    expect(page.locator("#sync")).to_contain_text("done")
    _shoot(page, "3-user-light")
    # Instants are shown in the reader's own time zone, with the stored UTC as their title.
    fetched = page.locator("#sync dt:text-is('Last fetch') + dd time")
    stamp = datetime.fromisoformat(fetched.get_attribute("datetime") or "")
    local = stamp.astimezone(ZoneInfo(READER_ZONE))
    expect(fetched).to_have_text(f"{local:%Y-%m-%d %H:%M:%S} GMT+5:30")
    assert fetched.get_attribute("title") == f"{stamp:%Y-%m-%d %H:%M:%S} UTC"

    # The default range is the 30 days ending today in the user's time zone (not UTC's).
    page.goto(user_page)
    expect(page.get_by_label("To", exact=True)).to_have_value(today.isoformat())
    expect(page.get_by_label("From", exact=True)).to_have_value(
        (today - timedelta(days=29)).isoformat()
    )
    page.goto(f"{user_page}?from={first.isoformat()}&to={today.isoformat()}")

    # Every chart draws exactly the stored values, each on its local date.
    assert _drawn(page, "#sleep-stages rect.bar", "part") == stored["sleep stages"]
    assert _drawn(page, "#sleep-hr circle.point", "part") == stored["sleep heart rate"]
    assert _drawn(page, "#steps rect.bar", "part") == stored["steps"]
    assert _drawn(page, "#active-minutes rect.bar", "part") == stored["active minutes"]
    assert _drawn(page, "#weight circle.point", "at") == stored["weight"]
    assert _drawn(page, "#blood-pressure circle.point", "at") == stored["blood pressure"]
    assert _drawn(page, "#spo2 circle.point", "at") == stored["SpO2"]
    segments = page.locator("#sleep-stages rect.bar")
    for index in range(segments.count()):
        assert segments.nth(index).bounding_box() is not None  # rendered, not just in the markup
    # One pixel scale for every segment: a segment's drawn height is proportional to its value.
    ratios = {
        round(float(s.get_attribute("height") or 0) / float(s.get_attribute("data-value") or 1), 3)
        for s in segments.all()
    }
    assert len(ratios) == 1
    # The x axis is labelled with local dates, the last one the range's last day.
    labels = page.locator("#steps text.x-tick")
    assert labels.last.get_attribute("data-day") == today.isoformat()

    # The range selector: a week picked in the form narrows every chart to that week.
    week_from, week_to = today - timedelta(days=13), today - timedelta(days=7)
    page.get_by_label("From", exact=True).fill(week_from.isoformat())
    page.get_by_label("To", exact=True).fill(week_to.isoformat())
    page.get_by_role("button", name="Show").click()
    expect(page.get_by_role("heading", name=re.compile("^Delivered data"))).to_contain_text(
        f"{week_from.day} {week_from:%b %Y} to {week_to.day} {week_to:%b %Y}"
    )
    assert labels.count() == 7
    week = {(week_from + timedelta(days=n)).isoformat() for n in range(7)}
    assert _drawn(page, "#steps rect.bar", "part") == {
        key: value for key, value in stored["steps"].items() if key[0] in week
    }
    _shoot(page, "3-user-week-light")
    page.goto(f"{user_page}?from={first.isoformat()}&to={today.isoformat()}")

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

    # The client signs in with its own credentials: its page, its user, the same charts; the
    # operator's overview and any other client's page are not its to see.
    client_view = chromium.new_context(viewport={"width": 1280, "height": 900})
    client_page = client_view.new_page()
    client_page.goto(base + "/dashboard")
    client_page.get_by_label("Client UUID").fill(credentials["client_uuid"])
    client_page.get_by_label("Secret key").fill(credentials["secret_key"])
    client_page.get_by_role("button", name="Sign in as client").click()
    expect(client_page.get_by_role("heading", name="Rookery demo")).to_be_visible()
    expect(client_page.locator(f'#users tr[data-user="{user_id}"]')).to_contain_text("linked")
    client_page.goto(base + "/dashboard")
    assert client_page.url.endswith(f"/dashboard/clients/{credentials['client_uuid']}")
    client_page.goto(f"{user_page}?from={first.isoformat()}&to={today.isoformat()}")
    assert _drawn(client_page, "#weight circle.point", "at") == stored["weight"]
    elsewhere = client_page.goto(f"{base}/dashboard/clients/{uuid.uuid4()}")
    assert elsewhere is not None
    assert elsewhere.status == 404
    client_view.close()

    # Redeliver the newest delivered document: a new message goes out and is delivered.
    page.goto(f"{base}/dashboard/clients/{credentials['client_uuid']}?status=delivered")
    row = page.locator("#deliveries tbody tr").filter(has_not_text="event:").first
    what = row.locator("td").nth(2).inner_text().strip()
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
    demo.wait_for(re.compile(rf"{what}\s+{user_id}\s.*signed ✓"), 5, new_only=True)
    assert problems == []  # no CSP violation, no missing asset, no error page
    context.close()
