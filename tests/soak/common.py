"""What the soak tests share: their two lengths, draining the queues, and the audit of what the
webhook receiver got against what the sandbox holds.

Each soak test runs a short version in `make test` and its full version with ROOKERY_SOAK=1
(`make soak`); each writes its figures to test-output/soak/.
"""

from __future__ import annotations

import json
import os
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession
from standardwebhooks import Webhook

from rookery.jobs.kinds import JobKind
from rookery.model.identity import fingerprint
from rookery.pipeline.rebuild import produce_documents, user_context
from rookery.sandbox.api import DataCall, getmeas, getworkouts, heart_list, sleep_getsummary
from rookery.sandbox.settings import SandboxSettings
from rookery.sandbox.synth import Population
from rookery.store.enums import JobStatus
from rookery.store.tables import (
    Delivery,
    DeliveryKind,
    DeliveryStatus,
    Document,
    Job,
    User,
    utc_now,
)
from rookery.withings.responses import Endpoint
from tests.delivery.receiver import Received
from tests.pipeline.harness import Deployment

T = TypeVar("T")

FULL = os.environ.get("ROOKERY_SOAK") == "1"
OUTPUT = Path(__file__).resolve().parents[2] / "test-output" / "soak"
# The structures that are records of their own (events, nights): one document per record.
RECORD_STRUCTURES_SUFFIX = "_event"
SLEEP_SUMMARY = "sleep_summary"


def sized(short: T, full: T) -> T:
    """`full` under ROOKERY_SOAK=1, else `short`."""
    return full if FULL else short


def write_figures(name: str, figures: dict[str, Any]) -> None:
    """Keep a run's figures as test-output/soak/<name>-<short|full>.json, and print them."""
    OUTPUT.mkdir(parents=True, exist_ok=True)
    length = sized("short", "full")
    (OUTPUT / f"{name}-{length}.json").write_text(json.dumps(figures, indent=2) + "\n")
    print(f"{name} ({length}):", json.dumps(figures))


# -- The queues --------------------------------------------------------------------------------


async def _hurry(session: AsyncSession) -> int:
    """Make every queued job due now (what time would do: backoffs and 601 waits run out);
    how many jobs (day closes apart) and deliveries are still open."""
    await session.execute(
        update(Job)
        .where(Job.status == JobStatus.QUEUED, Job.kind != JobKind.PIPELINE_CLOSE_DAY)
        .values(run_at=utc_now())
    )
    open_jobs = await session.scalars(
        select(Job.id).where(
            Job.status.in_([JobStatus.QUEUED, JobStatus.RUNNING]),
            Job.kind != JobKind.PIPELINE_CLOSE_DAY,
        )
    )
    sending = await session.scalars(
        select(Delivery.id).where(
            Delivery.status.in_([DeliveryStatus.PENDING, DeliveryStatus.FAILED])
        )
    )
    return len(list(open_jobs)) + len(list(sending))


def hurry(stack: Deployment) -> int:
    """Make queued jobs due now; how many jobs and deliveries are open."""
    return stack.query(_hurry)


def drain(stack: Deployment, *, timeout_s: float) -> None:
    """Wait (hurrying) until no job but day closes is open and nothing waits to be sent; on
    timeout, fail naming what is still open."""
    try:
        stack.wait_for(lambda: hurry(stack) == 0, timeout_s=timeout_s, what="the queues empty")
    except AssertionError as timed_out:
        raise AssertionError(f"{timed_out}; still open: {stack.query(_still_open)}") from None


async def _still_open(session: AsyncSession) -> list[str]:
    jobs = await session.scalars(
        select(Job).where(
            Job.status.in_([JobStatus.QUEUED, JobStatus.RUNNING]),
            Job.kind != JobKind.PIPELINE_CLOSE_DAY,
        )
    )
    deliveries = await session.scalars(
        select(Delivery).where(Delivery.status.in_([DeliveryStatus.PENDING, DeliveryStatus.FAILED]))
    )
    return [
        *(
            f"job {job.id} {job.kind} {job.status} attempts={job.attempts} run_at={job.run_at} "
            f"lease={job.lease_expires_at} error={job.last_error}"
            for job in jobs
        ),
        *(
            f"delivery {d.webhook_id} {d.status} attempts={d.attempts} "
            f"next={d.next_attempt_at} lease={d.lease_expires_at} error={d.last_error}"
            for d in deliveries
        ),
    ]


async def expire_leases(session: AsyncSession) -> None:
    """End every lease, as time would for the leases of processes that died (call it only
    when no worker runs)."""
    past = utc_now() - timedelta(seconds=1)
    await session.execute(
        update(Job).where(Job.status == JobStatus.RUNNING).values(lease_expires_at=past)
    )
    await session.execute(
        update(Delivery).where(Delivery.lease_expires_at.is_not(None)).values(lease_expires_at=past)
    )


async def parked_jobs(session: AsyncSession) -> list[tuple[str, str | None]]:
    """The parked jobs' kinds and errors."""
    rows = await session.execute(
        select(Job.kind, Job.last_error).where(Job.status == JobStatus.PARKED)
    )
    return [(str(kind), error) for kind, error in rows]


async def delivery_statuses(session: AsyncSession) -> dict[str, int]:
    """How many deliveries stand in each status."""
    rows = await session.scalars(select(Delivery.status))
    counts: dict[str, int] = defaultdict(int)
    for status in rows:
        counts[str(status)] += 1
    return dict(counts)


# -- What was delivered ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Stored:
    """A data delivery as the database holds it."""

    document_id: int
    version: int
    body: bytes


async def data_deliveries(session: AsyncSession) -> dict[str, Stored]:
    """Every data delivery by its `webhook-id`."""
    rows = await session.scalars(select(Delivery).where(Delivery.kind == DeliveryKind.DATA))
    return {
        row.webhook_id: Stored(int(row.document_id or 0), int(row.document_version or 0), row.body)
        for row in rows
    }


@dataclass
class Audit:
    """What the receiver got, checked: `versions[document_id][version]` is the body of that
    version, `webhook_ids` every message received; `receipts` counts the POSTs and `retries`
    those that repeated a webhook-id."""

    versions: dict[int, dict[int, bytes]] = field(default_factory=lambda: defaultdict(dict))
    webhook_ids: set[str] = field(default_factory=set)
    receipts: int = 0
    retries: int = 0
    problems: list[str] = field(default_factory=list)


def audit(received: Iterable[Received], stored: dict[str, Stored], webhook_secret: str) -> Audit:
    """Check each POST: signed by the client's secret over its exact body, JSON, the body of a
    delivery the database holds; and each (document, version) under one webhook-id only (a
    repeat is an at-least-once retry of the same message). Problems are collected, not raised,
    so that a failure shows them all."""
    verifier = Webhook(webhook_secret)
    result = Audit()
    ids_of: dict[tuple[int, int], set[str]] = defaultdict(set)
    seen = result.webhook_ids
    for post in received:
        result.receipts += 1
        webhook_id = post.headers.get("webhook-id", "")
        try:
            verifier.verify(post.body, post.headers, json_parse=False)
            json.loads(post.body)
        except Exception as error:  # any failure to verify or parse is the finding
            result.problems.append(f"{webhook_id}: {type(error).__name__}: {error}")
            continue
        delivery = stored.get(webhook_id)
        if delivery is None or delivery.body != post.body:
            result.problems.append(f"{webhook_id}: not the body of a stored delivery")
            continue
        if webhook_id in seen:
            result.retries += 1
        seen.add(webhook_id)
        ids_of[(delivery.document_id, delivery.version)].add(webhook_id)
        result.versions[delivery.document_id][delivery.version] = post.body
    for (document_id, version), ids in sorted(ids_of.items()):
        if len(ids) > 1:
            result.problems.append(
                f"document {document_id} v{version} came under {len(ids)} webhook-ids"
            )
    return result


# -- What the sandbox holds --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Answer:
    """A sandbox answer in the shape of a recorded Withings call (`RawCall`)."""

    service: str
    action: str
    params: Mapping[str, str]
    http_status: int | None
    response_text: str | None


def _sandbox_answers(population: Population, userid: int, now_s: int) -> list[_Answer]:
    """What the sandbox answers, at `now_s`, to a fetch of every record the user holds."""
    call = DataCall(population.user(userid), population, SandboxSettings(), float(now_s))
    epochs = {"startdate": "0", "enddate": str(now_s + 86_400)}
    dates = {"startdateymd": "2000-01-01", "enddateymd": "2100-01-01"}
    handlers: list[tuple[Endpoint, Any, dict[str, str]]] = [
        (Endpoint.GETMEAS, getmeas, epochs),
        (Endpoint.GETWORKOUTS, getworkouts, dates),
        (Endpoint.SLEEP_GETSUMMARY, sleep_getsummary, dates),
        (Endpoint.HEART_LIST, heart_list, epochs),
    ]
    return [
        _Answer(
            endpoint.service,
            endpoint.action,
            params,
            200,
            json.dumps({"status": 0, "body": handler(call, params)}),
        )
        for endpoint, handler, params in handlers
    ]


def expected_records(
    population: Population, userid: int, *, client_uuid: str, user_id: str, now_s: int
) -> dict[tuple[str, str], str | None]:
    """(data_structure, source_key) → fingerprint of each record document the sandbox's data
    implies for the user, by the pure transforms; None for a sleep summary, whose granular
    detail comes from further calls (its identity is checked, not its content)."""
    answers = _sandbox_answers(population, userid, now_s)
    ctx = user_context(answers, client_uuid=client_uuid, user_id=user_id)
    expected: dict[tuple[str, str], str | None] = {}
    for item in produce_documents(answers, ctx):
        structure = str(item.identity.data_structure)
        if structure.endswith(RECORD_STRUCTURES_SUFFIX):
            expected[(structure, item.identity.source_key)] = fingerprint(item.document)
        elif structure == SLEEP_SUMMARY:
            expected[(structure, item.identity.source_key)] = None
    return expected


@dataclass(frozen=True, slots=True)
class StoredDocument:
    """A document's latest version as Rookery holds it."""

    id: int
    version: int
    body_json: str


async def stored_documents(session: AsyncSession) -> dict[tuple[str, str, str], StoredDocument]:
    """(user_id, data_structure, source_key) → the stored document."""
    rows = await session.execute(
        select(
            User.user_id,
            Document.data_structure,
            Document.source_key,
            Document.id,
            Document.document_version,
            Document.body_json,
        ).join(User, User.id == Document.user_pk)
    )
    return {
        (user_id, str(structure), key): StoredDocument(int(doc_id), int(version), body)
        for user_id, structure, key, doc_id, version, body in rows
    }


def undelivered(
    stack: Deployment,
    users: Mapping[int, str],
    result: Audit,
    documents: Mapping[tuple[str, str, str], StoredDocument],
    *,
    now_s: int,
) -> tuple[int, list[str]]:
    """Every record document the sandbox's data implies for `users` (sandbox userid → client
    user id) checked against what was delivered: stored, each version delivered (once: `audit`
    checks that), the last one the stored one and, for events, the sandbox's latest data.
    Returns how many were checked and what is wrong."""
    checked = 0
    wrong: list[str] = []
    for userid, user_id in users.items():
        expected = expected_records(
            stack.population,
            userid,
            client_uuid=str(stack.client.client_uuid),
            user_id=user_id,
            now_s=now_s,
        )
        if not expected:
            wrong.append(f"{userid}: the sandbox implies no record at all")
        for (structure, key), print_ in expected.items():
            checked += 1
            name = f"{userid} {structure} {key}"
            document = documents.get((user_id, structure, key))
            if document is None:
                wrong.append(f"{name}: never stored")
                continue
            delivered = result.versions.get(document.id, {})
            if sorted(delivered) != list(range(1, document.version + 1)):
                wrong.append(f"{name}: versions {sorted(delivered)} of {document.version}")
                continue
            latest = json.loads(delivered[document.version])
            if latest != json.loads(document.body_json):
                wrong.append(f"{name}: the last delivery is not the stored version")
            elif print_ is not None and fingerprint(latest) != print_:
                wrong.append(f"{name}: not the sandbox's latest data")
    return checked, wrong
