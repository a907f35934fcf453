"""A connection's whole life over real HTTP against the sandbox, on SQLite and PostgreSQL:
link, subscriptions, refresh, re-link, revoke, Withings' own unlink, and every way consent fails."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import signal
import sys
import uuid
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx2
import pytest
from sqlalchemy import update

from rookery.app import Resources
from rookery.connections.context import withings_client
from rookery.connections.links import handle_withings_unlink
from rookery.connections.tokens import (
    REFRESH_LEASE,
    NotLinkedError,
    RefreshLeased,
    access_token,
    force_refresh,
)
from rookery.jobs import ratelimit
from rookery.sandbox.oauth import REPEAT_WINDOW_S
from rookery.store.clients import NewClient, set_redirect_urls
from rookery.store.enums import ConnectionState
from rookery.store.tables import Client, OAuthState, RateLimit, WithingsConnection, utc_now
from rookery.withings.errors import (
    WithingsMalformedResponse,
    WithingsRateLimited,
    WithingsUnavailable,
)
from tests.connections.stack import (
    WITHINGS_USER,
    Browser,
    Stack,
    client_events,
    connection_row,
    enable_withings,
    form_token_of,
    new_client,
    page_path,
    queued_kinds,
    run_connection_jobs,
)
from tests.jobs.conftest import eventually

pytestmark = pytest.mark.anyio

ALL_SUBSCRIBED = [1, 2, 4, 16, 44, 46, 54]
REPOSITORY = Path(__file__).resolve().parents[2]
CONCURRENT_REQUESTS = 100
REFRESHING_PROCESSES = 4
# Seconds a refresh waits for Withings in the tests where its answer hangs (the sandbox holds it
# for 60 s).
IMPATIENT_TIMEOUT_S = 3.0


def _query(url: str) -> dict[str, str]:
    return {key: values[0] for key, values in parse_qs(urlsplit(url).query).items()}


async def _linked(
    stack: Stack, resources: Resources, browser: Browser, user_id: str = "user-1"
) -> tuple[NewClient, WithingsConnection]:
    client = await new_client(resources)
    await enable_withings(stack, client)
    location = await browser.link(client, user_id)
    assert _query(location)["result"] == "connected"
    connection = await connection_row(resources, client, user_id)
    assert connection is not None
    return client, connection


async def test_linking_stores_the_connection_subscribes_and_tells_the_client(
    stack: Stack, resources: Resources, browser: Browser
) -> None:
    client = await new_client(resources)
    await enable_withings(stack, client)

    location = await browser.link(client, "user-1")

    assert location == f"{page_path(client, 'user-1')}?result=connected"
    connection = await connection_row(resources, client, "user-1")
    assert connection is not None
    assert connection.state is ConnectionState.LINKED
    assert connection.withings_userid == WITHINGS_USER
    assert connection.scopes == ["user.activity", "user.info", "user.metrics"]
    assert connection.subscribed_applis == []
    assert await client_events(resources, client) == [
        ("user-1", "user_created"),
        ("user-1", "data_source_linked"),
    ]
    assert await queued_kinds(resources) == ["pipeline.backfill", "withings.subscribe"]

    assert await run_connection_jobs(resources) == ["withings.subscribe: done"]

    subscriptions = stack.sandbox_user()["subscriptions"]
    assert sorted(s["appli"] for s in subscriptions) == ALL_SUBSCRIBED
    callbacks = {s["callbackurl"] for s in subscriptions}
    assert len(callbacks) == 1
    (callback,) = callbacks
    assert callback.startswith(f"{stack.rookery_url}/withings/notify?token=")
    assert len(_query(callback)["token"]) >= 40
    connection = await connection_row(resources, client, "user-1")
    assert connection is not None
    assert connection.subscribed_applis == ALL_SUBSCRIBED
    page = await browser.open_page(client, "user-1")
    assert 'id="withings-state">Connected</p>' in page.text
    assert "Since " in page.text
    assert "Disconnect Withings" in page.text


async def test_a_failed_subscribe_is_retried_and_a_retry_makes_only_the_missing_ones(
    stack: Stack, resources: Resources, browser: Browser
) -> None:
    client, connection = await _linked(stack, resources, browser)
    stack.control("POST", "faults", kind="http_5xx", count=1, path="/notify")

    assert await run_connection_jobs(resources) == [
        "withings.subscribe: failed (WithingsUnavailable)"
    ]
    assert stack.sandbox_user()["subscriptions"] == []
    # As if an earlier run had got through weight and temperature before failing.
    async with resources.sessions.begin() as session:
        await session.execute(
            update(WithingsConnection)
            .where(WithingsConnection.id == connection.id)
            .values(subscribed_applis=[1, 2])
        )

    assert await run_connection_jobs(resources) == ["withings.subscribe: done"]
    subscribed = sorted(s["appli"] for s in stack.sandbox_user()["subscriptions"])
    assert subscribed == [4, 16, 44, 46, 54]
    assert len(stack.calls("subscribe", "/notify")) == 1 + 5  # the failed one, then the missing
    stored = await connection_row(resources, client, "user-1")
    assert stored is not None
    assert stored.subscribed_applis == ALL_SUBSCRIBED


async def test_the_token_is_refreshed_when_the_sandbox_clock_passes_its_expiry(
    stack: Stack, resources: Resources, browser: Browser
) -> None:
    _, connection = await _linked(stack, resources, browser)
    ctx = stack.context(resources)
    first = await access_token(ctx, connection.id)
    assert first == await access_token(ctx, connection.id)
    assert stack.calls("requesttoken")
    assert len(stack.calls("requesttoken")) == 1

    stack.advance(3 * 3600 - 60)  # within the refresh margin of the 3 h expiry

    second = await access_token(ctx, connection.id)
    assert second != first
    assert len(stack.calls("requesttoken")) == 2
    assert await ctx.withings.getdevice(second) is not None


async def test_a_401_forces_one_refresh_and_a_stale_rejection_reuses_the_new_token(
    stack: Stack, resources: Resources, browser: Browser
) -> None:
    _, connection = await _linked(stack, resources, browser)
    ctx = stack.context(resources)
    rejected = await access_token(ctx, connection.id)

    renewed = await force_refresh(ctx, connection.id, rejected_token=rejected)
    again = await force_refresh(ctx, connection.id, rejected_token=rejected)

    assert renewed != rejected
    assert again == renewed  # already replaced: Withings is not asked twice
    assert len(stack.calls("requesttoken")) == 2


async def test_a_hundred_concurrent_refreshes_in_one_process_make_one_withings_call(
    stack: Stack, resources: Resources, browser: Browser
) -> None:
    _, connection = await _linked(stack, resources, browser)
    stack.advance(3 * 3600)
    contexts = [stack.context(resources) for _ in range(CONCURRENT_REQUESTS)]

    tokens = await asyncio.gather(*(access_token(ctx, connection.id) for ctx in contexts))

    assert len(tokens) == CONCURRENT_REQUESTS
    assert len(set(tokens)) == 1
    assert len(stack.calls("requesttoken")) == 2  # the code, then one refresh
    assert await contexts[0].withings.getdevice(tokens[0]) is not None


async def _token_process(
    stack: Stack, entry_point: str, connection_id: uuid.UUID, *args: str
) -> asyncio.subprocess.Process:
    """`tests.connections.token_process` started on the stack, its clock the sandbox's."""
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.connections.token_process",
        entry_point,
        str(connection_id),
        str(stack.sandbox.clock.now()),
        *args,
        cwd=REPOSITORY,
        env=stack.process_environ(),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )


async def test_a_hundred_concurrent_refreshes_across_processes_make_one_withings_call(
    stack: Stack, resources: Resources, browser: Browser
) -> None:
    _, connection = await _linked(stack, resources, browser)
    stack.advance(3 * 3600)
    per_process = CONCURRENT_REQUESTS // REFRESHING_PROCESSES
    processes = [
        await _token_process(stack, "refresh", connection.id, str(per_process))
        for _ in range(REFRESHING_PROCESSES)
    ]
    try:
        async with asyncio.timeout(120):
            for process in processes:
                assert process.stdout is not None
                assert await process.stdout.readline() == b"ready\n"
            # Every process is up before any asks: their refreshes meet at the row lock
            # (PostgreSQL) or the refresh lease (SQLite; the others defer, then find the token).
            outputs = await asyncio.gather(*(process.communicate(b"go\n") for process in processes))
    finally:
        for process in processes:
            if process.returncode is None:
                process.kill()
                await process.wait()

    assert [process.returncode for process in processes] == [0] * REFRESHING_PROCESSES
    # Each prints its tokens last, after its log lines.
    tokens = [token for stdout, _ in outputs for token in json.loads(stdout.splitlines()[-1])]
    assert len(tokens) == CONCURRENT_REQUESTS
    assert len(set(tokens)) == 1
    assert len(stack.calls("requesttoken")) == 2  # the code, then one refresh
    assert await stack.context(resources).withings.getdevice(tokens[0]) is not None


async def _release_rate_limit_hold(resources: Resources) -> None:
    """A 601 holds every Withings call of the deployment for its wait; let it pass."""
    assert await ratelimit.acquire(resources.engine, per_minute=120) > 0
    async with resources.sessions.begin() as session:
        await session.execute(update(RateLimit).values(blocked_until=None))


async def test_a_crash_between_the_refresh_answer_and_the_commit_recovers_in_the_grace_period(
    stack: Stack, resources: Resources, browser: Browser
) -> None:
    client, connection = await _linked(stack, resources, browser)
    assert connection.refresh_token_encrypted is not None
    stored_refresh = resources.cipher.decrypt(connection.refresh_token_encrypted)
    stack.advance(3 * 3600)

    crashed = await _token_process(stack, "crash", connection.id)
    async with asyncio.timeout(60):
        await crashed.communicate()

    # Killed once Withings had answered: Withings rotated, Rookery kept the old refresh token.
    assert crashed.returncode == -signal.SIGKILL
    assert len(stack.calls("requesttoken")) == 2
    withings_refresh = {t["token"]: t for t in stack.sandbox_user()["refresh_tokens"]}
    assert len(withings_refresh) == 2
    assert withings_refresh[stored_refresh]["dies_at"] is not None  # on its 8 h grace
    after_crash = await connection_row(resources, client, "user-1")
    assert after_crash is not None
    assert after_crash.refresh_token_encrypted == connection.refresh_token_encrypted
    ctx = stack.context(resources)

    if stack.settings.is_postgresql:
        # The row lock died with the process. A retry at once repeats the crashed request:
        # Withings' 10 s rule answers 601, which only defers the refresh.
        with pytest.raises(WithingsRateLimited):
            await access_token(ctx, connection.id)
        await _release_rate_limit_hold(resources)
        stack.advance(REPEAT_WINDOW_S)
    else:
        # The crashed process's refresh lease outlives it: a retry defers without a call...
        with pytest.raises(RefreshLeased):
            await access_token(ctx, connection.id)
        assert len(stack.calls("requesttoken")) == 2
        # ...until the lease expires, when the next refresh takes it over.
        stack.advance(REFRESH_LEASE.total_seconds())
    token = await access_token(ctx, connection.id)

    assert await ctx.withings.getdevice(token) is not None
    stored = await connection_row(resources, client, "user-1")
    assert stored is not None
    assert stored.state is ConnectionState.LINKED
    assert stored.refresh_token_encrypted is not None
    rotated = resources.cipher.decrypt(stored.refresh_token_encrypted)
    # The old token was spent in its grace, then retired by the new access token's first use.
    live_refresh = {t["token"] for t in stack.sandbox_user()["refresh_tokens"]}
    assert rotated in live_refresh
    assert stored_refresh not in live_refresh
    assert ("user-1", "extraction_failed") not in await client_events(resources, client)
    page = await browser.open_page(client, "user-1")
    assert "Reconnect Withings" not in page.text


@pytest.mark.parametrize(
    ("fault", "error", "withings_rotated"),
    [
        ("http_5xx", WithingsUnavailable, False),
        ("rate_limit", WithingsRateLimited, False),
        # Withings refreshed but its answer never arrived whole: the old token is on its grace.
        ("timeout", WithingsUnavailable, True),
        ("truncated", WithingsUnavailable, True),
        ("malformed_json", WithingsMalformedResponse, False),
    ],
)
async def test_a_transient_refresh_failure_leaves_the_connection_linked(
    stack: Stack,
    resources: Resources,
    browser: Browser,
    fault: str,
    error: type[Exception],
    withings_rotated: bool,
) -> None:
    client, connection = await _linked(stack, resources, browser)
    stack.advance(3 * 3600)
    stack.control("POST", "faults", kind=fault, count=1, path="/v2/oauth2", hang_s=60)
    ctx = stack.context(resources)

    async with httpx2.AsyncClient(timeout=IMPATIENT_TIMEOUT_S) as impatient_http:
        impatient = dataclasses.replace(
            ctx, withings=withings_client(stack.settings, impatient_http)
        )
        with pytest.raises(error):
            await access_token(impatient, connection.id)

    if error is WithingsRateLimited:
        await _release_rate_limit_hold(resources)
    if withings_rotated:  # the sandbox answers a hung call once the caller has gone

        async def rotated() -> bool:
            return len(stack.sandbox_user()["refresh_tokens"]) == 2

        await eventually(rotated, timeout_s=30)
    stored = await connection_row(resources, client, "user-1")
    assert stored is not None
    assert stored.state is ConnectionState.LINKED
    assert stored.refresh_token_encrypted == connection.refresh_token_encrypted
    assert stored.refresh_lease_until is None  # SQLite: the retry need not wait for its expiry
    assert ("user-1", "extraction_failed") not in await client_events(resources, client)
    stack.advance(REPEAT_WINDOW_S)  # a retry is not the same request within Withings' 10 s
    token = await access_token(ctx, connection.id)  # retried later: it works
    assert await ctx.withings.getdevice(token) is not None


async def test_a_refused_refresh_token_marks_the_connection_for_relinking(
    stack: Stack, resources: Resources, browser: Browser
) -> None:
    client, connection = await _linked(stack, resources, browser)
    ctx = stack.context(resources)
    await ctx.withings.revoke(str(WITHINGS_USER))  # the grant dies at Withings
    stack.advance(3 * 3600)

    with pytest.raises(NotLinkedError) as raised:
        await access_token(ctx, connection.id)

    assert raised.value.state is ConnectionState.NEEDS_RELINK
    stored = await connection_row(resources, client, "user-1")
    assert stored is not None
    assert stored.state is ConnectionState.NEEDS_RELINK
    assert stored.access_token_encrypted is None
    assert stored.refresh_token_encrypted is None
    assert (await client_events(resources, client))[-1] == ("user-1", "extraction_failed")
    page = await browser.open_page(client, "user-1")
    assert "Reconnection needed" in page.text
    assert "Reconnect Withings" in page.text

    assert _query(await browser.link(client, "user-1"))["result"] == "connected"
    relinked = await connection_row(resources, client, "user-1")
    assert relinked is not None
    assert relinked.id == connection.id
    assert relinked.state is ConnectionState.LINKED


async def test_denied_consent_links_nothing(
    stack: Stack, resources: Resources, browser: Browser
) -> None:
    client = await new_client(resources)
    await enable_withings(stack, client)

    location = await browser.link(client, "user-1", decision="deny")

    assert location == f"{page_path(client, 'user-1')}?result=denied"
    assert await connection_row(resources, client, "user-1") is None
    assert await client_events(resources, client) == []
    page = await browser.http.get(stack.rookery_url + location)
    assert "You did not allow access" in page.text


async def test_an_expired_code_fails_cleanly(
    stack: Stack, resources: Resources, browser: Browser
) -> None:
    client = await new_client(resources)
    await enable_withings(stack, client)
    callback = await browser.consent(await browser.connect(client, "user-1"))
    stack.advance(31)  # codes live 30 s

    response = await browser.callback(callback)

    assert response.status_code == 303
    assert response.headers["location"] == f"{page_path(client, 'user-1')}?result=failed"
    assert await connection_row(resources, client, "user-1") is None
    page = await browser.http.get(stack.rookery_url + response.headers["location"])
    assert "could not be connected" in page.text


@pytest.mark.parametrize("fault", ["http_5xx", "malformed_json", "truncated"])
async def test_withings_failing_the_code_exchange_fails_the_consent_cleanly(
    stack: Stack, resources: Resources, browser: Browser, fault: str
) -> None:
    client = await new_client(resources)
    await enable_withings(stack, client)
    callback = await browser.consent(await browser.connect(client, "user-1"))
    stack.control("POST", "faults", kind=fault, count=1, path="/v2/oauth2")

    response = await browser.callback(callback)

    assert response.status_code == 303
    assert response.headers["location"] == f"{page_path(client, 'user-1')}?result=failed"
    assert await connection_row(resources, client, "user-1") is None
    assert await client_events(resources, client) == []
    page = await browser.http.get(stack.rookery_url + response.headers["location"])
    assert page.status_code == 200
    assert "could not be connected" in page.text
    assert "Traceback" not in page.text
    # The user simply tries again.
    assert _query(await browser.link(client, "user-1"))["result"] == "connected"


async def test_unknown_replayed_and_expired_states_are_refused(
    stack: Stack, resources: Resources, browser: Browser
) -> None:
    client = await new_client(resources)
    await enable_withings(stack, client)
    cases: dict[str, str] = {
        "unknown": f"{stack.rookery_url}/withings/oauth/callback?state=not-ours&code=abc",
        "missing": f"{stack.rookery_url}/withings/oauth/callback?code=abc",
        "oversized": f"{stack.rookery_url}/withings/oauth/callback?state={'x' * 5000}&code=abc",
    }
    callback = await browser.consent(await browser.connect(client, "user-1"))
    assert (await browser.callback(callback)).status_code == 303
    cases["replayed"] = callback
    authorize = await browser.connect(client, "user-2")
    async with resources.sessions.begin() as session:
        await session.execute(update(OAuthState).values(expires_at=utc_now()))
    cases["expired"] = await browser.consent(authorize)

    for case, url in cases.items():
        response = await browser.callback(url)
        assert response.status_code == 400, case
        assert response.headers["content-type"].startswith("text/html"), case
        assert "This link has expired" in response.text, case
        assert "Traceback" not in response.text, case
    assert await connection_row(resources, client, "user-2") is None


async def test_a_state_keeps_its_binding_whatever_the_callback_adds(
    stack: Stack, resources: Resources, browser: Browser
) -> None:
    client = await new_client(resources)
    await enable_withings(stack, client)
    async with resources.sessions.begin() as session:
        owner = await session.get_one(Client, client.client_uuid)
        await set_redirect_urls(session, owner, ["https://app.example.com/done"], actor="test")
    done = "https://app.example.com/done?step=3"
    callback = await browser.consent(await browser.connect(client, "user-1", redirect_url=done))
    tampered = callback + "&redirect_url=https%3A%2F%2Fevil.example%2F&user_id=user-9"

    response = await browser.callback(tampered)

    assert response.headers["location"] == (
        "https://app.example.com/done?step=3&data_source=Withings&result=connected"
    )
    assert await connection_row(resources, client, "user-1") is not None
    assert await connection_row(resources, client, "user-9") is None


async def test_revoke_unlinks_at_once_revokes_at_withings_and_allows_a_relink(
    stack: Stack, resources: Resources, browser: Browser
) -> None:
    client, connection = await _linked(stack, resources, browser)
    assert await run_connection_jobs(resources) == ["withings.subscribe: done"]
    auth = (str(client.client_uuid), client.secret_key)
    async with httpx2.AsyncClient(base_url=stack.rookery_url) as api:
        revoked = await api.post(
            "/api/v1/user_id/user-1/data_sources/revoke_auth",
            json={"data_source": "Withings"},
            auth=auth,
        )
        assert revoked.status_code == 200
        assert revoked.json() == {
            "message": "Authorization for the specified user data source has been successfully "
            "revoked"
        }
        stored = await connection_row(resources, client, "user-1")
        assert stored is not None
        assert stored.state is ConnectionState.UNLINKED
        assert stored.access_token_encrypted is None
        assert stored.refresh_token_encrypted is None
        assert (await client_events(resources, client))[-1] == ("user-1", "data_source_unlinked")
        authorized = await api.get("/api/v1/user_id/user-1/data_sources/authorized", auth=auth)
        assert authorized.json()["sources"]["withings"] is False

        assert await run_connection_jobs(resources) == ["withings.revoke: done"]
        assert len(stack.calls("revoke")) == 1
        withings_user = stack.sandbox_user()
        assert withings_user["subscriptions"] == []
        assert withings_user["access_tokens"] == []
        assert withings_user["refresh_tokens"] == []
        again = await api.post(
            "/api/v1/user_id/user-1/data_sources/revoke_auth",
            json={"data_source": "Withings"},
            auth=auth,
        )
        assert again.status_code == 204

    assert _query(await browser.link(client, "user-1"))["result"] == "connected"
    relinked = await connection_row(resources, client, "user-1")
    assert relinked is not None
    assert relinked.id == connection.id
    assert relinked.state is ConnectionState.LINKED
    assert await run_connection_jobs(resources) == ["withings.subscribe: done"]
    assert sorted(s["appli"] for s in stack.sandbox_user()["subscriptions"]) == ALL_SUBSCRIBED


async def test_withings_own_unlink_does_what_a_disconnect_does(
    stack: Stack, resources: Resources, browser: Browser
) -> None:
    client, _ = await _linked(stack, resources, browser)
    other, _ = await _linked(stack, resources, browser, user_id="user-2")

    async with resources.sessions.begin() as session:
        assert (
            await handle_withings_unlink(session, withings_userid=WITHINGS_USER, now=utc_now()) == 2
        )
    async with resources.sessions.begin() as session:
        assert (
            await handle_withings_unlink(session, withings_userid=WITHINGS_USER, now=utc_now()) == 0
        )

    for owner, user_id in ((client, "user-1"), (other, "user-2")):
        stored = await connection_row(resources, owner, user_id)
        assert stored is not None
        assert stored.state is ConnectionState.UNLINKED
        assert (await client_events(resources, owner))[-1] == (user_id, "data_source_unlinked")
    assert "withings.revoke: done" in await run_connection_jobs(resources)
    assert stack.sandbox_user()["refresh_tokens"] == []


async def test_an_unlink_at_withings_reaches_rookery_through_appli_46(
    stack: Stack, resources: Resources, browser: Browser
) -> None:
    client, connection = await _linked(stack, resources, browser)
    assert await run_connection_jobs(resources) == ["withings.subscribe: done"]
    assert 46 in {s["appli"] for s in stack.sandbox_user()["subscriptions"]}

    # The user unlinks Rookery in their Withings account: Withings sends appli 46.
    sent = stack.control("POST", "notifications", userid=WITHINGS_USER, appli=46, action="unlink")

    (delivery,) = stack.control("GET", "deliveries")["deliveries"]
    assert delivery["id"] in sent["deliveries"]
    assert delivery["state"] == "delivered"
    stored = await connection_row(resources, client, "user-1")
    assert stored is not None
    assert stored.id == connection.id
    assert stored.state is ConnectionState.UNLINKED
    assert stored.refresh_token_encrypted is None
    assert (await client_events(resources, client))[-1] == ("user-1", "data_source_unlinked")
    assert "withings.revoke" in await queued_kinds(resources)


async def test_without_user_info_there_is_no_unlink_subscription(
    stack: Stack, resources: Resources, browser: Browser
) -> None:
    client = await new_client(resources)
    await enable_withings(stack, client)
    callback = await browser.consent(
        await browser.connect(client, "user-1"), granted=["user.metrics", "user.activity"]
    )
    assert (await browser.callback(callback)).status_code == 303
    assert await run_connection_jobs(resources) == ["withings.subscribe: done"]
    assert sorted(s["appli"] for s in stack.sandbox_user()["subscriptions"]) == [
        1,
        2,
        4,
        16,
        44,
        54,
    ]

    sent = stack.control("POST", "notifications", userid=WITHINGS_USER, appli=46, action="unlink")

    assert sent["deliveries"] == []  # Withings has nobody to tell
    stored = await connection_row(resources, client, "user-1")
    assert stored is not None
    assert stored.state is ConnectionState.LINKED


async def test_disconnect_on_the_page_needs_the_page_token_and_cookie(
    stack: Stack, resources: Resources, browser: Browser
) -> None:
    client, _ = await _linked(stack, resources, browser)
    await _linked(stack, resources, browser, user_id="user-2")
    # Another client's user of the same name, with its own page (and page token).
    other = await new_client(resources, name="Other")
    await enable_withings(stack, other)
    disconnect = stack.rookery_url + page_path(client, "user-1") + "/disconnect"
    own_token = form_token_of((await browser.open_page(client, "user-1")).text)
    other_token = form_token_of((await browser.open_page(client, "user-2")).text)
    other_clients_token = form_token_of((await browser.open_page(other, "user-1")).text)

    refusals = [
        await browser.http.post(disconnect, data={}),
        await browser.http.post(disconnect, data={"token": other_token}),
        await browser.http.post(disconnect, data={"token": other_clients_token}),
        await browser.http.post(disconnect, data={"token": own_token + "x"}),
    ]
    async with httpx2.AsyncClient() as stranger:  # no cookie: a cross-site forged post
        refusals.append(await stranger.post(disconnect, data={"token": own_token}))

    for response in refusals:
        assert response.status_code == 403
        assert "This page has expired" in response.text
    stored = await connection_row(resources, client, "user-1")
    assert stored is not None
    assert stored.state is ConnectionState.LINKED

    done = await browser.http.post(disconnect, data={"token": own_token})
    assert done.status_code == 303
    assert done.headers["location"] == f"{page_path(client, 'user-1')}?result=disconnected"
    stored = await connection_row(resources, client, "user-1")
    assert stored is not None
    assert stored.state is ConnectionState.UNLINKED
    assert stored.access_token_encrypted is None
    assert stored.refresh_token_encrypted is None
    assert (await client_events(resources, client))[-1] == ("user-1", "data_source_unlinked")
    assert await queued_kinds(resources) == [
        "pipeline.backfill",
        "pipeline.backfill",
        "withings.revoke",
        "withings.subscribe",
        "withings.subscribe",
    ]


async def test_a_disconnect_on_the_page_revokes_at_withings_and_the_user_can_link_again(
    stack: Stack, resources: Resources, browser: Browser
) -> None:
    client, connection = await _linked(stack, resources, browser)
    assert await run_connection_jobs(resources) == ["withings.subscribe: done"]
    assert sorted(s["appli"] for s in stack.sandbox_user()["subscriptions"]) == ALL_SUBSCRIBED
    token = form_token_of((await browser.open_page(client, "user-1")).text)

    done = await browser.http.post(
        stack.rookery_url + page_path(client, "user-1") + "/disconnect", data={"token": token}
    )

    assert done.status_code == 303
    assert (await client_events(resources, client))[-1] == ("user-1", "data_source_unlinked")
    assert await run_connection_jobs(resources) == ["withings.revoke: done"]
    withings_user = stack.sandbox_user()
    assert withings_user["subscriptions"] == []
    assert withings_user["access_tokens"] == []
    assert withings_user["refresh_tokens"] == []
    page = await browser.http.get(stack.rookery_url + done.headers["location"])
    assert 'id="withings-state">Not connected</p>' in page.text

    assert _query(await browser.link(client, "user-1"))["result"] == "connected"
    relinked = await connection_row(resources, client, "user-1")
    assert relinked is not None
    assert relinked.id == connection.id
    assert relinked.state is ConnectionState.LINKED
    assert (await client_events(resources, client))[-1] == ("user-1", "data_source_linked")
    assert await run_connection_jobs(resources) == ["withings.subscribe: done"]
    assert sorted(s["appli"] for s in stack.sandbox_user()["subscriptions"]) == ALL_SUBSCRIBED
