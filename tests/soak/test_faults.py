"""The fault soak: linked users with history while the Withings sandbox misbehaves in every way
it can, then quiet; afterwards every record the sandbox holds for the users still linked has been
delivered once per version, nobody but the user who revoked the grant is asked to re-link, and no
minute of calls went over the rate limit."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from rookery.app import HTTP_TIMEOUT
from rookery.config import Settings
from rookery.connections.deployment import notify_callback_url
from rookery.pipeline.check import schedule_checks
from rookery.sandbox.calls import busiest_minute
from rookery.sandbox.settings import SandboxSettings
from rookery.sandbox.synth import generate_population
from rookery.store.crypto import load_cipher
from rookery.store.enums import ConnectionState
from rookery.store.tables import WithingsConnection, utc_now
from rookery.withings.signature import sign
from tests.pipeline.harness import (
    DATA_PATH,
    Deployment,
    deployment,
    new_user_id,
    now_utc,
    weights,
)
from tests.soak.common import (
    audit,
    data_deliveries,
    drain,
    hurry,
    parked_jobs,
    sized,
    stored_documents,
    undelivered,
    write_figures,
)

pytestmark = pytest.mark.timeout(sized(300, 1800))

USERS = sized(3, 6)
BACKFILL_DAYS = sized(2, 5)
# The full version's limit is half the sandbox's default, so that its backfills press against it.
RATE_LIMIT_PER_MINUTE = sized(120, 60)
# How long the call faults stay armed while the backfills run (at most).
CALL_FAULT_PHASE_S = sized(10.0, 120.0)
NEW_WEIGH_INS = sized(3, 12)
# Longer than Rookery's Withings timeout (30 s): a real timeout, not a slow answer. Each costs
# its job 30 s, so the short version leaves them to tests/pipeline/test_resilience.py's hang.
HANG_S = 45
TIMEOUTS = sized(0, 3)
# Linking's token exchange is left alone: a failed consent is the user's to retry.
FAULTED_PATHS = ("/measure", "/v2/measure", "/v2/sleep", "/v2/heart", "/notify")
CALL_FAULT_FRACTIONS = (("http_5xx", 0.2), ("malformed_json", 0.04), ("truncated", 0.04))
DRAIN_TIMEOUT_S = sized(240, 900)


def _revoke_grant(stack: Deployment, userid: int) -> None:
    """The user's grant revoked at Withings (every token of theirs dead), through the signed
    `revoke` action an app would call."""
    sandbox = SandboxSettings()
    now_s = int(stack.control("GET", "clock")["now"])
    asked = {"action": "getnonce", "client_id": sandbox.client_id, "timestamp": str(now_s)}
    answer = stack.http.post(
        f"{stack.sandbox_url}/v2/signature",
        data={**asked, "signature": sign(sandbox.client_secret, asked)},
    ).json()
    assert answer["status"] == 0, answer
    signed = {"action": "revoke", "client_id": sandbox.client_id, "nonce": answer["body"]["nonce"]}
    answer = stack.http.post(
        f"{stack.sandbox_url}/v2/oauth2",
        data={**signed, "signature": sign(sandbox.client_secret, signed), "userid": str(userid)},
    ).json()
    assert answer["status"] == 0, answer


def _is_ours(call: dict[str, Any]) -> bool:
    """Whether a logged call was the test's own (the revocation), not Rookery's."""
    return bool(call["path"] == "/v2/signature" or call["action"] == "revoke")


def _requests(calls: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rookery's requests, one log entry each, at the time each came. The log holds a truncated
    or hung call twice: the fault as it came, then the answer the sandbox made for it (a hung
    one once Rookery gave up waiting); that second entry is dropped."""
    wait_s = {"truncated": 0.0, "timeout": (HTTP_TIMEOUT.read or 0.0) - 1}
    requests: list[dict[str, Any]] = []
    answering: list[dict[str, Any]] = []
    for call in sorted(calls, key=lambda c: float(c["at"])):
        answered = next(
            (
                fault
                for fault in answering
                if call["fault"] is None
                and (fault["path"], fault["action"]) == (call["path"], call["action"])
                and call["at"] >= fault["at"] + wait_s[fault["fault"]]
            ),
            None,
        )
        if answered is not None:
            answering.remove(answered)
            continue
        if call["fault"] in wait_s:
            answering.append(call)
        requests.append(call)
    return requests


async def _states(session: AsyncSession) -> dict[int, ConnectionState]:
    rows = await session.execute(
        select(WithingsConnection.withings_userid, WithingsConnection.state)
    )
    return {int(userid): state for userid, state in rows}


def _weigh_in(stack: Deployment, userid: int, grams: int) -> dict[str, Any]:
    """A weigh-in taken now (the sandbox notifies it); the control endpoint's answer."""
    taken_s = int(stack.control("GET", "clock")["now"])
    answer: dict[str, Any] = stack.control(
        "POST",
        f"users/{userid}/records",
        kind="measuregrps",
        record={"date": taken_s, "measures": [{"value": grams, "type": 1, "unit": -3}]},
    )
    return answer


def test_under_every_withings_fault_nothing_is_lost_and_only_the_revoked_relinks(
    make_settings: Callable[..., Settings], soak_database_url: str
) -> None:
    started = time.monotonic()
    population = generate_population(USERS, 81, now_utc=now_utc(), history_days=BACKFILL_DAYS - 1)
    revoked, *healthy = [account.userid for account in population.accounts]
    user_ids = {userid: new_user_id() for userid in (revoked, *healthy)}
    injected: Counter[str] = Counter()
    with deployment(
        make_settings,
        soak_database_url,
        population,
        sandbox_rate_limit=RATE_LIMIT_PER_MINUTE,
        backfill_days=BACKFILL_DAYS,
        withings_rate_limit_per_minute=RATE_LIMIT_PER_MINUTE,
    ) as stack:
        # Phase 1, the API misbehaving while the backfills run.
        for path in FAULTED_PATHS:
            for kind, fraction in CALL_FAULT_FRACTIONS:
                stack.control("POST", "faults", kind=kind, fraction=fraction, path=path)
        if TIMEOUTS:
            stack.control(
                "POST", "faults", kind="timeout", count=TIMEOUTS, hang_s=HANG_S, path="/v2/measure"
            )
        stack.control(
            "POST", "faults", kind="rate_limit", count=sized(4, 12), wait_seconds=2, path="/measure"
        )

        # One user revokes the grant at Withings while their backfill runs.
        stack.link(user_ids[revoked], revoked)
        stack.wait_for(
            lambda: any(c["userid"] == revoked for c in stack.calls()),
            timeout_s=60,
            what="the first backfill call",
        )
        _revoke_grant(stack, revoked)
        revoked_at = float(stack.control("GET", "clock")["now"])
        injected["revoked_grant"] += 1
        stack.wait_for(
            lambda: stack.query(_states)[revoked] is ConnectionState.NEEDS_RELINK,
            timeout_s=120,
            what="the revoked connection marked for re-linking",
        )
        marked_at = float(stack.control("GET", "clock")["now"])
        for userid in healthy:
            stack.link(user_ids[userid], userid)
        # An access token dies (refreshing recovers it): not a reason to re-link.
        stack.control("POST", "faults", kind="revoked_token", count=2)
        deadline = time.monotonic() + CALL_FAULT_PHASE_S
        while time.monotonic() < deadline and not all(
            stack.sync(user_ids[userid])["backfill"]["status"] == "done" for userid in healthy
        ):
            time.sleep(0.5)

        # Phase 2, the notifications misbehaving: lost subscriptions, duplicates, phantoms and
        # notifications for accounts nobody linked, while new weigh-ins arrive and change.
        def subscribed() -> bool:
            hurry(stack)  # a subscribe refused by a 5xx waits out its backoff at once
            return bool(stack.subscriptions(healthy[0]))

        stack.wait_for(subscribed, timeout_s=120, what="the subscriptions")
        lost = stack.control("POST", "faults", kind="lost_subscription", userid=healthy[0])
        injected["lost_subscription"] += int(lost["removed"])
        duplicates = sized(4, 12)
        stack.control("POST", "faults", kind="duplicate_notification", count=duplicates)
        for userid in healthy:
            stack.control("POST", "faults", kind="phantom_notification", userid=userid)
            injected["phantom_notification"] += 1
        cipher = load_cipher(stack.settings)
        callback = stack.query(lambda s: notify_callback_url(s, cipher, stack.settings))
        at_s = int(stack.control("GET", "clock")["now"])
        for stranger in (1, 424242424):
            window = {"startdate": str(at_s - 60), "enddate": str(at_s)}
            answer = stack.http.post(
                callback, data={"userid": str(stranger), "appli": "1", **window}
            )
            assert answer.status_code == 200, answer.text
            injected["unknown_user_notification"] += 1
        for index in range(NEW_WEIGH_INS):
            for userid in healthy:
                added = _weigh_in(stack, userid, 70_000 + 17 * index + userid % 1000)
                if index % 3 == 0:  # changed after the fact: version 2
                    group = population.user(userid).measuregrps[-1]
                    assert group["date"] == int(added["notification"]["startdate"])
                    stack.control(
                        "PATCH",
                        f"users/{userid}/records/measuregrps/{group['grpid']}",
                        changes={"measures": [{"value": 69_000 + index, "type": 1, "unit": -3}]},
                    )
            time.sleep(0.2)

        # Quiet: faults off, the backlog drained, then the daily safety net.
        remaining = {f["kind"]: f["remaining"] for f in stack.control("GET", "faults")["faults"]}
        injected["duplicate_notification"] += duplicates - int(
            remaining.get("duplicate_notification") or 0
        )
        stack.control("DELETE", "faults")
        drain(stack, timeout_s=DRAIN_TIMEOUT_S)
        stack.query(lambda session: schedule_checks(session, utc_now()))
        drain(stack, timeout_s=DRAIN_TIMEOUT_S)

        now_s = int(stack.control("GET", "clock")["now"])
        calls = stack.calls()
        states = stack.query(_states)
        parked = stack.query(parked_jobs)
        documents = stack.query(stored_documents)
        result = audit(
            stack.receiver.received(DATA_PATH),
            stack.query(data_deliveries),
            stack.client.webhook_secret,
        )
        checked, wrong = undelivered(
            stack, {userid: user_ids[userid] for userid in healthy}, result, documents, now_s=now_s
        )

    # Nothing lost: every record document the sandbox's data implies for the users still
    # linked was delivered, every version under one webhook-id, the last one the sandbox's.
    assert result.problems == []
    assert wrong == []
    # Nobody re-links but the user who revoked.
    assert states == {
        revoked: ConnectionState.NEEDS_RELINK,
        **dict.fromkeys(healthy, ConnectionState.LINKED),
    }
    # Rookery kept within the rate limit, and Withings never refused a call by itself.
    rookery_calls = _requests([c for c in calls if not _is_ours(c)])
    assert busiest_minute(rookery_calls, include_refused=True) <= RATE_LIMIT_PER_MINUTE
    assert not [c for c in calls if c["status"] == 601 and c["fault"] is None]
    # The revoked user's backfill was still calling when the grant went (a dead token names
    # nobody in the log; until it was marked, that user was the only one linked).
    assert any(c["status"] == 401 and revoked_at <= c["at"] <= marked_at for c in calls)
    injected.update(str(c["fault"]) for c in calls if c["fault"] is not None)
    write_figures(
        f"faults-{soak_database_url.split(':', 1)[0]}",
        {
            "faults_injected": dict(sorted(injected.items())),
            "withings_requests": len(rookery_calls),
            "call_log_entries": len(calls),
            "busiest_minute": busiest_minute(rookery_calls, include_refused=True),
            "rate_limit_per_minute": RATE_LIMIT_PER_MINUTE,
            "parked_jobs": len(parked),
            "data_posts_received": result.receipts,
            "retried_receipts": result.retries,
            "record_documents_checked": checked,
            "documents_stored": len(documents),
            "duration_s": round(time.monotonic() - started, 1),
        },
    )


def test_the_daily_check_pulls_what_arrived_while_a_deferred_backfill_waited(
    make_settings: Callable[..., Settings], sqlite_url: str
) -> None:
    """What the soak found: a backfill's getmeas that ran late (deferred by a 601) must not move
    the cursor past the weigh-ins that arrived after its window while notifications were lost."""
    population = generate_population(1, 83, now_utc=now_utc(), history_days=1)
    account = population.accounts[0]
    with deployment(make_settings, sqlite_url, population, backfill_days=2) as stack:
        stack.control(
            "POST", "faults", kind="rate_limit", count=1, wait_seconds=10, path="/measure"
        )
        user_id = new_user_id()
        stack.link(user_id, account.userid)
        stack.wait_for(
            lambda: any(c["fault"] == "rate_limit" for c in stack.calls()),
            timeout_s=60,
            what="the deferred getmeas",
        )
        stack.wait_for(
            lambda: bool(stack.subscriptions(account.userid)), timeout_s=60, what="subscribed"
        )
        stack.control("POST", "faults", kind="lost_subscription", userid=account.userid)
        time.sleep(2)  # past the backfill window's last second
        _weigh_in(stack, account.userid, 66_666)
        stack.wait_backfill(user_id)
        drain(stack, timeout_s=120)
        stack.query(lambda session: schedule_checks(session, utc_now()))
        stack.wait_for(
            lambda: 66.666 in weights(stack.data()).values(), timeout_s=60, what="the pull"
        )
