"""The sender: claims due deliveries, POSTs them signed, and writes down every attempt.

Several senders (processes, machines) share the queue: a claim leases a delivery for one try
(`FOR UPDATE SKIP LOCKED` on PostgreSQL; SQLite serialises claims with BEGIN IMMEDIATE), so no
two senders try the same delivery at once; a sender that dies leaves a lease that expires.

Isolation between clients: a sender runs at most `per_client` sends per client and `total` in
all, and claims nothing for a client already at its limit. A client whose endpoint hangs thus
holds `per_client` slots for at most the send timeout, and the other clients' deliveries are
claimed and sent meanwhile.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import random
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Final

import httpx2
import structlog
from sqlalchemy import Row, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from rookery import __version__
from rookery.delivery.events import ClientEvent, EventLevel
from rookery.delivery.queue import OPEN_STATUSES, enqueue_client_event, purge_dead
from rookery.delivery.schedule import (
    DEFAULT_DEAD_RETENTION,
    Judgement,
    RetrySchedule,
    Verdict,
    judge,
)
from rookery.delivery.signing import webhook_headers
from rookery.delivery.ssrf import Resolver, WebhookPolicy, check_webhook_url, resolve_host
from rookery.delivery.transport import WEBHOOK_TIMEOUT_S, pinned, webhook_client
from rookery.errors import InvalidInputError
from rookery.jobs.wakeup import DELIVERIES, Doorbell, listening
from rookery.metrics import Metrics
from rookery.store.crypto import TokenCipher
from rookery.store.engine import session_factory
from rookery.store.tables import (
    Client,
    Delivery,
    DeliveryAttempt,
    DeliveryKind,
    DeliveryStatus,
    table_of,
    utc_now,
)

if TYPE_CHECKING:
    from rookery.app import Resources

logger = structlog.get_logger(__name__)

# How much of a refusing answer is kept with the attempt.
ERROR_EXCERPT_CHARS: Final = 500
# A claim outlives the longest try, so a live sender's lease never expires under it.
DEFAULT_LEASE: Final = timedelta(seconds=60)
DEFAULT_POLL_INTERVAL_S: Final = 1.0
DEFAULT_PURGE_INTERVAL_S: Final = 3600.0
# How long `stop` lets sends in flight finish before cancelling them (their leases expire and
# another sender tries again; receivers deduplicate on webhook-id).
STOP_GRACE_S: Final = 5.0


@dataclass(frozen=True, slots=True)
class SenderLimits:
    """Concurrent sends of one sender process: per client and in all."""

    per_client: int = 4
    total: int = 32

    def __post_init__(self) -> None:
        if not 1 <= self.per_client <= self.total:
            raise ValueError("limits need 1 <= per_client <= total")


@dataclass(frozen=True, slots=True)
class _Claim:
    """What one try needs, read in the claim's transaction."""

    delivery_id: uuid.UUID
    webhook_id: str
    attempt: int
    client_id: uuid.UUID
    kind: DeliveryKind
    url: str | None
    hash_key_encrypted: str
    webhook_secret_encrypted: str
    user_id: str
    datetime_string: str
    body: bytes


@dataclass(slots=True)
class _Outcome:
    url: str | None
    status_code: int | None = None
    retry_after: str | None = None
    latency_ms: int | None = None
    error: str | None = None


@dataclass(slots=True)
class _InFlight:
    tasks: set[asyncio.Task[None]] = field(default_factory=set)
    per_client: Counter[uuid.UUID] = field(default_factory=Counter)


class Sender:
    """Sends due deliveries until stopped: `await start()`, `await stop()` (or `async with`).

    `send_due()` runs one pass and waits for its sends (tests and one-shot tools). `clock` and
    `rng` decide schedules and leases; `resolver` serves the SSRF check.
    """

    def __init__(
        self,
        *,
        engine: AsyncEngine,
        cipher: TokenCipher,
        http: httpx2.AsyncClient,
        policy: WebhookPolicy,
        resolver: Resolver = resolve_host,
        schedule: RetrySchedule | None = None,
        limits: SenderLimits | None = None,
        clock: Callable[[], datetime] = utc_now,
        rng: random.Random | None = None,
        send_timeout_s: float = WEBHOOK_TIMEOUT_S,
        lease: timedelta = DEFAULT_LEASE,
        poll_interval_s: float = DEFAULT_POLL_INTERVAL_S,
        dead_retention: timedelta = DEFAULT_DEAD_RETENTION,
        purge_interval_s: float = DEFAULT_PURGE_INTERVAL_S,
        metrics: Metrics | None = None,
    ) -> None:
        if lease.total_seconds() <= send_timeout_s:
            raise ValueError("the lease must outlast the send timeout")
        self._engine = engine
        self._sessions = session_factory(engine)
        self._cipher = cipher
        self._http = http
        self._policy = policy
        self._resolver = resolver
        self._schedule = schedule or RetrySchedule()
        self._limits = limits or SenderLimits()
        self._clock = clock
        self._rng = rng or random.Random()  # noqa: S311 - jitter, not a secret
        self._send_timeout_s = send_timeout_s
        self._lease = lease
        self._poll_interval_s = poll_interval_s
        self._dead_retention = dead_retention
        self._purge_interval_s = purge_interval_s
        self._doorbell = Doorbell()
        self._metrics = metrics
        self._in_flight = _InFlight()
        # Whether the last claim may have left due deliveries behind for want of a slot.
        self._held_back = False
        self._loop_task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Sender:
        await self.start()
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.stop()

    async def start(self) -> None:
        """Start sending in the background: woken by commits, polling as a fallback."""
        if self._loop_task is not None:
            raise RuntimeError("the sender is already running")
        started = asyncio.Event()
        self._loop_task = asyncio.create_task(self._run(started), name="delivery-sender")
        await started.wait()

    async def stop(self) -> None:
        """Stop claiming; let sends in flight finish for a few seconds, then cancel them."""
        if self._loop_task is None:
            return
        self._loop_task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._loop_task
        self._loop_task = None
        tasks = set(self._in_flight.tasks)
        if tasks:
            _, late = await asyncio.wait(tasks, timeout=STOP_GRACE_S)
            for task in late:
                task.cancel()
            if late:
                # A send cancelled inside a database call may not end promptly; shutting down
                # must not wait on it (its lease expires, and another sender tries again).
                _, stuck = await asyncio.wait(late, timeout=STOP_GRACE_S)
                if stuck:
                    logger.warning("delivery.sender.stop_abandoned", sends=len(stuck))

    def wake(self) -> None:
        """Look for due deliveries now."""
        self._doorbell.ring()

    async def send_due(self) -> int:
        """Claim what is due now (within the limits), send it, and wait for those sends; how
        many were sent. Deliveries due again meanwhile wait for the next pass."""
        started = await self._dispatch()
        await asyncio.gather(*started)
        return len(started)

    async def purge(self) -> int:
        """Delete dead deliveries older than the retention; how many."""
        async with self._sessions.begin() as session:
            purged = await purge_dead(session, dead_before=self._clock() - self._dead_retention)
        if purged:
            logger.info("deliveries_purged", count=purged)
        return purged

    async def _run(self, started: asyncio.Event) -> None:
        async with listening(self._engine, DELIVERIES, self._doorbell.ring):
            started.set()
            next_purge = time.monotonic()
            while True:
                try:
                    await self._dispatch()
                    if time.monotonic() >= next_purge:
                        next_purge = time.monotonic() + self._purge_interval_s
                        await self.purge()
                except Exception:  # the database away, ...: keep going, the poll retries
                    logger.exception("delivery_loop_error")
                await self._doorbell.wait(self._poll_interval_s)

    async def _dispatch(self) -> list[asyncio.Task[None]]:
        """Claim due deliveries while there is room, and start a send for each."""
        started: list[asyncio.Task[None]] = []
        while True:
            claims, more = await self._claim()
            for claim in claims:
                task = asyncio.create_task(self._deliver(claim), name=f"deliver-{claim.webhook_id}")
                self._in_flight.tasks.add(task)
                self._in_flight.per_client[claim.client_id] += 1
                task.add_done_callback(functools.partial(self._done, claim))
                started.append(task)
            if not more:
                return started

    def _done(self, claim: _Claim, task: asyncio.Task[None]) -> None:
        self._in_flight.tasks.discard(task)
        self._in_flight.per_client[claim.client_id] -= 1
        if not task.cancelled() and task.exception() is not None:
            logger.error(
                "delivery_send_error", webhook_id=claim.webhook_id, exc_info=task.exception()
            )
        # A slot is free: deliveries held back by a limit may be waiting for it.
        if self._held_back:
            self._doorbell.ring()

    async def _claim(self) -> tuple[list[_Claim], bool]:
        """Lease due deliveries up to the free slots; also whether to claim again at once
        (some were skipped for a client at its limit, and room is left)."""
        free = self._limits.total - len(self._in_flight.tasks)
        if free <= 0:
            self._held_back = True
            return [], False
        per_client = self._in_flight.per_client
        full = [client for client, count in per_client.items() if count >= self._limits.per_client]
        now = self._clock()
        query = (
            select(
                Delivery.id,
                Delivery.attempts,
                Delivery.client_id,
                Delivery.kind,
                Delivery.user_id,
                Delivery.datetime_string,
                Delivery.body,
                Client.data_webhook_url,
                Client.notification_webhook_url,
                Client.hash_key_encrypted,
                Client.webhook_secret_encrypted,
            )
            .join(Client, Client.id == Delivery.client_id)
            .where(
                Delivery.status.in_(OPEN_STATUSES),
                Delivery.next_attempt_at <= now,
                or_(Delivery.lease_expires_at.is_(None), Delivery.lease_expires_at <= now),
            )
            .order_by(Delivery.next_attempt_at)
            .limit(free)
            .with_for_update(skip_locked=True, of=Delivery.__table__)
        )
        if full:
            query = query.where(Delivery.client_id.not_in(full))
        claims: list[_Claim] = []
        taken: Counter[uuid.UUID] = Counter()
        async with self._sessions.begin() as session:
            rows = (await session.execute(query)).all()
            for row in rows:
                if per_client[row.client_id] + taken[row.client_id] >= self._limits.per_client:
                    continue
                taken[row.client_id] += 1
                claims.append(_claim_of(row))
            if claims:
                await session.execute(
                    update(table_of(Delivery))
                    .where(Delivery.id.in_([claim.delivery_id for claim in claims]))
                    .values(attempts=Delivery.attempts + 1, lease_expires_at=now + self._lease)
                )
        # Held back: rows skipped or left out for a client at its limit, or all the room taken.
        self._held_back = bool(full) or len(claims) < len(rows) or len(rows) == free
        return claims, len(claims) < len(rows) and len(claims) < free

    async def _deliver(self, claim: _Claim) -> None:
        outcome = await self._attempt(claim)
        await self._record(claim, outcome)

    async def _attempt(self, claim: _Claim) -> _Outcome:
        if claim.url is None:
            return _Outcome(url=None, error=f"the client has no {claim.kind} webhook URL set")
        try:
            checked = await check_webhook_url(claim.url, self._policy, self._resolver)
        except InvalidInputError as refused:
            return _Outcome(url=claim.url, error=f"not sent: {refused}")
        headers = webhook_headers(
            hash_key=self._cipher.decrypt(claim.hash_key_encrypted),
            webhook_secret=self._cipher.decrypt(claim.webhook_secret_encrypted),
            client_uuid=str(claim.client_id),
            user_id=claim.user_id,
            datetime_string=claim.datetime_string,
            webhook_id=claim.webhook_id,
            sent_at=self._clock(),
            body=claim.body,
        )
        headers["User-Agent"] = f"Rookery/{__version__}"
        started = time.monotonic()
        outcome = _Outcome(url=claim.url)
        try:
            async with asyncio.timeout(self._send_timeout_s):
                with pinned(checked):
                    async with self._http.stream(
                        "POST", claim.url, content=claim.body, headers=headers
                    ) as response:
                        outcome.status_code = response.status_code
                        outcome.retry_after = response.headers.get("Retry-After")
                        if not response.is_success:
                            outcome.error = await _excerpt(response)
        except TimeoutError:
            outcome.error = f"no answer within {self._send_timeout_s:g} s"
        except httpx2.HTTPError as error:
            outcome.error = f"{type(error).__name__}: {error}"[:ERROR_EXCERPT_CHARS]
        outcome.latency_ms = round((time.monotonic() - started) * 1000)
        return outcome

    async def _record(self, claim: _Claim, outcome: _Outcome) -> None:
        now = self._clock()
        judgement = judge(
            self._schedule,
            attempts=claim.attempt,
            status_code=outcome.status_code,
            retry_after=outcome.retry_after,
            now=now,
            rng=self._rng,
        )
        async with self._sessions.begin() as session:
            # Only while the delivery is still this try's: if another sender claimed it after
            # our lease ran out, its try decides, not ours.
            created_at = await session.scalar(
                update(table_of(Delivery))
                .where(Delivery.id == claim.delivery_id, Delivery.attempts == claim.attempt)
                .values(**_settled(judgement, outcome, now))
                .returning(Delivery.created_at)
            )
            exists = created_at is not None or await session.scalar(
                select(Delivery.id).where(Delivery.id == claim.delivery_id)
            )
            if not exists:  # its client or user was deleted meanwhile
                return
            await session.execute(
                insert(table_of(DeliveryAttempt)).values(
                    delivery_id=claim.delivery_id,
                    attempt=claim.attempt,
                    at_utc=now,
                    url=outcome.url,
                    status_code=outcome.status_code,
                    latency_ms=outcome.latency_ms,
                    error=outcome.error,
                )
            )
            if created_at is None:
                return
            if judgement.verdict is Verdict.DEAD and claim.kind is DeliveryKind.DATA:
                await self._tell_rejected(session, claim, outcome, now)
        if self._metrics is not None:
            delivered = judgement.verdict is Verdict.DELIVERED
            self._metrics.record_delivery(
                claim.kind.value, judgement.verdict.value, now - created_at if delivered else None
            )
        logger.info(
            "delivery_attempt",
            webhook_id=claim.webhook_id,
            attempt=claim.attempt,
            status_code=outcome.status_code,
            latency_ms=outcome.latency_ms,
            verdict=judgement.verdict.value,
        )

    async def _tell_rejected(
        self, session: AsyncSession, claim: _Claim, outcome: _Outcome, now: datetime
    ) -> None:
        """Queue the client's `delivery_rejected` event about a data delivery gone dead."""
        delivery = await session.get(Delivery, claim.delivery_id)
        client = await session.get(Client, claim.client_id)
        if delivery is None or client is None:
            return
        await enqueue_client_event(
            session,
            client=client,
            user_id=delivery.user_id,
            action=ClientEvent.DELIVERY_REJECTED,
            level=EventLevel.ERROR,
            message=_rejection_message(delivery, outcome),
            at=now,
        )


def _claim_of(row: Row[*tuple[Any, ...]]) -> _Claim:
    """The claim of a row of `_claim`'s query (its attempt: the one being made)."""
    kind = DeliveryKind(row.kind)
    return _Claim(
        delivery_id=row.id,
        webhook_id=f"msg_{row.id.hex}",
        attempt=row.attempts + 1,
        client_id=row.client_id,
        kind=kind,
        url=row.data_webhook_url if kind is DeliveryKind.DATA else row.notification_webhook_url,
        hash_key_encrypted=row.hash_key_encrypted,
        webhook_secret_encrypted=row.webhook_secret_encrypted,
        user_id=row.user_id,
        datetime_string=row.datetime_string,
        body=row.body,
    )


def _settled(judgement: Judgement, outcome: _Outcome, now: datetime) -> dict[str, Any]:
    """The delivery's columns after a try judged `judgement`."""
    values: dict[str, Any] = {
        "lease_expires_at": None,
        "last_status_code": outcome.status_code,
        "last_error": outcome.error,
    }
    if judgement.verdict is Verdict.DELIVERED:
        return {
            **values,
            "status": DeliveryStatus.DELIVERED,
            "delivered_at": now,
            "next_attempt_at": None,
        }
    if judgement.verdict is Verdict.RETRY:
        return {**values, "status": DeliveryStatus.FAILED, "next_attempt_at": judgement.retry_at}
    return {**values, "status": DeliveryStatus.DEAD, "dead_at": now, "next_attempt_at": None}


def _rejection_message(delivery: Delivery, outcome: _Outcome) -> str:
    answer = f"HTTP {outcome.status_code}" if outcome.status_code is not None else outcome.error
    return (
        f"The data webhook did not accept {delivery.data_structure} version "
        f"{delivery.document_version} (delivery {delivery.id}, webhook-id "
        f"{delivery.webhook_id}) after {delivery.attempts} attempts; last: {answer}. "
        "It is kept for redelivery."
    )


async def _excerpt(response: httpx2.Response) -> str:
    """The start of a refusing answer, read no further than needed."""
    received = b""
    async for chunk in response.aiter_bytes():
        received += chunk
        if len(received) >= ERROR_EXCERPT_CHARS:
            break
    text = received[:ERROR_EXCERPT_CHARS].decode("utf-8", errors="replace").strip()
    return f"HTTP {response.status_code}" + (f": {text}" if text else "")


@contextlib.asynccontextmanager
async def open_sender(
    resources: Resources, *, limits: SenderLimits | None = None
) -> AsyncIterator[Sender]:
    """A running sender for a Rookery process (`rookery serve`, `rookery worker`) on its own
    webhook HTTP client (`rookery.delivery.transport`); stopped on exit."""
    limits = limits or SenderLimits()
    async with webhook_client(max_connections=limits.total) as http:
        sender = Sender(
            engine=resources.engine,
            cipher=resources.cipher,
            http=http,
            policy=resources.webhook_policy,
            limits=limits,
            metrics=resources.metrics,
        )
        async with sender:
            yield sender
