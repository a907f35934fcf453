"""The fetch job: one data domain of one connection, for a window or since a cursor.

It calls Withings as its domain's plan says (`rookery.pipeline.plans`), then in one transaction
archives every exchange, stores the documents they yield with their deliveries, learns the
user's zone and heights, moves the cursors and marks the job done. A deferral (rate limit, 601)
or a failure archives what was fetched so far; when the job runs again, every request that
already got its data is answered from the archive, not repeated (`rookery.pipeline.calls`).
"""

from __future__ import annotations

import uuid
import zlib
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import partial
from typing import Any, Final
from zoneinfo import ZoneInfo

import structlog
from sqlalchemy import and_, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from rookery.connections.tokens import NotLinkedError
from rookery.delivery.events import ClientEvent, EventLevel
from rookery.delivery.queue import enqueue_client_event
from rookery.jobs.queue import describe_error
from rookery.jobs.registry import JobContext, Park, Retry
from rookery.pipeline.calls import JobCalls
from rookery.pipeline.days import close_day
from rookery.pipeline.documents import (
    activity_row,
    has_intraday,
    store_documents,
    stored_physical_summaries,
)
from rookery.pipeline.learn import learned_heights, learned_timezone, seen_until
from rookery.pipeline.plans import PLANS, Domain, FetchPlan, WindowKind
from rookery.pipeline.rebuild import RawCall, produce_documents
from rookery.pipeline.state import (
    advance_cursor,
    heights_of,
    locked_state,
    merge_heights,
    record_error,
)
from rookery.store.archive import archive_exchange
from rookery.store.enums import ConnectionState, DataSource
from rookery.store.tables import (
    BackfillStatus,
    Client,
    ClientDataSource,
    Job,
    RawExchange,
    SyncState,
    User,
    WithingsConnection,
    utc_now,
)
from rookery.transform.activity import preferred_rows
from rookery.transform.context import HeightReading, UserContext
from rookery.transform.sleep import main_sessions
from rookery.transform.time import end_of_day, local_date, start_of_day, zone
from rookery.withings.client import WithingsClient
from rookery.withings.errors import WithingsInvalidParams, WithingsUnauthorized
from rookery.withings.responses import (
    ActivityDay,
    ActivityPage,
    Endpoint,
    SleepSummaryPage,
    SleepSummaryRow,
)

logger = structlog.get_logger(__name__)

# A window's start read as a night's start: a night that starts before noon is an early nap or
# an early morning, dated that day; later, it is dated the next day (the wake-up day).
_NIGHT_OFFSET: Final = timedelta(hours=12)
# Heart `list` filters by recording time, not by change: a sync looks this far behind its cursor.
_HEART_LOOKBACK: Final = timedelta(days=1)
# The longest window Withings answers getintradayactivity for.
_INTRADAY_SPAN_S: Final = 24 * 3600
# Errors that the same request will meet again: the job is parked and the client told.
_PERMANENT: Final = (WithingsInvalidParams, WithingsUnauthorized)


@dataclass(frozen=True, slots=True)
class FetchRequest:
    """What one fetch job fetches: a window (`start`, `end`: epoch seconds or local dates, as
    the domain's plan says) or everything changed since `lastupdate` (Withings epoch seconds).
    `backfill` marks a step of the connection's initial history pull."""

    connection_id: uuid.UUID
    domain: Domain
    start: int | str | None = None
    end: int | str | None = None
    lastupdate: int | None = None
    backfill: bool = False

    def payload(self) -> dict[str, Any]:
        """The job payload of this request."""
        payload: dict[str, Any] = {"connection_id": str(self.connection_id), "domain": self.domain}
        if self.lastupdate is not None:
            payload["lastupdate"] = self.lastupdate
        else:
            payload["start"], payload["end"] = self.start, self.end
        if self.backfill:
            payload["backfill"] = True
        return payload

    @classmethod
    def from_payload(cls, payload: Mapping[str, Any]) -> FetchRequest:
        """Read a job payload; raises ValueError when it is not one this module wrote."""
        connection_id = uuid.UUID(str(payload["connection_id"]))
        domain = Domain(payload["domain"])
        backfill = payload.get("backfill") is True
        if "lastupdate" in payload:
            return cls(
                connection_id, domain, lastupdate=int(payload["lastupdate"]), backfill=backfill
            )
        start, end = payload["start"], payload["end"]
        if PLANS[domain].window is WindowKind.DATE:
            if date.fromisoformat(str(start)) > date.fromisoformat(str(end)):
                raise ValueError("start is after end")
            return cls(connection_id, domain, str(start), str(end), backfill=backfill)
        if int(start) > int(end):
            raise ValueError("start is after end")
        return cls(connection_id, domain, int(start), int(end), backfill=backfill)


@dataclass(frozen=True, slots=True)
class Target:
    """Whose data a fetch is for, and what the pipeline knows of them."""

    connection_id: uuid.UUID
    client: Client
    user: User
    connection: WithingsConnection
    timezone: str | None
    heights: tuple[HeightReading, ...]

    @property
    def zone(self) -> ZoneInfo:
        """The user's zone (UTC until a response names one)."""
        return zone(self.timezone or "UTC")


async def load_target(session: AsyncSession, connection_id: uuid.UUID) -> Target | None:
    """The fetch target, or None when nothing may be fetched for the connection (gone,
    not linked, or its client has Withings disabled)."""
    row = (
        await session.execute(
            select(WithingsConnection, User, Client, SyncState)
            .join(User, User.id == WithingsConnection.user_pk)
            .join(Client, Client.id == User.client_id)
            .join(
                ClientDataSource,
                and_(
                    ClientDataSource.client_id == Client.id,
                    ClientDataSource.data_source == DataSource.WITHINGS,
                    ClientDataSource.enabled.is_(True),
                ),
            )
            .outerjoin(SyncState, SyncState.connection_id == WithingsConnection.id)
            .where(
                WithingsConnection.id == connection_id,
                WithingsConnection.state == ConnectionState.LINKED,
            )
        )
    ).one_or_none()
    if row is None:
        return None
    connection, user, client, state = row
    return Target(
        connection_id=connection_id,
        client=client,
        user=user,
        connection=connection,
        timezone=None if state is None else state.timezone,
        heights=() if state is None else heights_of(state),
    )


async def run_fetch(ctx: JobContext, job: Job) -> None:
    """The `PIPELINE_FETCH` handler (see the module docstring)."""
    try:
        request = FetchRequest.from_payload(job.payload)
    except (KeyError, ValueError, TypeError) as error:
        raise Park(f"not a fetch payload: {error}") from None
    async with ctx.sessions() as session:
        target = await load_target(session, request.connection_id)
        prior = await archived_by(session, job) if job.last_error is not None else []
    if target is None:
        logger.info("fetch_skipped", reason="not linked or source disabled")
        return
    await fetch_and_store(ctx, job, request, target, PLANS[request.domain], prior)


async def fetch_and_store(
    ctx: JobContext,
    job: Job,
    request: FetchRequest,
    target: Target,
    plan: FetchPlan,
    prior: Sequence[RawCall] = (),
    *,
    close: date | None = None,
) -> bool:
    """Run `plan` for `request` as `job`, then archive, store, deliver and complete the job in
    one transaction (closing the user's day `close` too, when given). Returns False when the
    connection turned out not to be linked (what was fetched is archived, nothing stored).

    Raises `Retry` on a deferral, `Park` on a refusal the same request would meet again, and
    the error of any other failure (after archiving what was fetched and noting the error).
    """
    calls = JobCalls(
        ctx,
        connection_id=target.connection_id,
        priority=job.priority,
        loaded=target.connection,
        prior=prior,
    )
    try:
        await execute(calls, plan, request, target, sessions=ctx.sessions)
    except NotLinkedError:
        # Unlinked, or the grant died (the linking package told the client): nothing to fetch.
        await _archive_failure(ctx, job, target, calls, None)
        return False
    except Retry:
        await _archive_failure(ctx, job, target, calls, None)
        raise
    except _PERMANENT as error:
        message = f"Withings refused the {request.domain} fetch: {describe_error(error)}"
        await _archive_failure(ctx, job, target, calls, message, tell_client=True)
        raise Park(message) from None
    except Exception as error:
        last_attempt = job.attempts + 1 >= job.max_attempts
        await _archive_failure(
            ctx, job, target, calls, describe_error(error), tell_client=last_attempt
        )
        raise
    await _store(ctx, job, request, target, [*prior, *calls.exchanges], calls, plan, close)
    return True


async def execute(
    calls: JobCalls,
    plan: FetchPlan,
    request: FetchRequest,
    target: Target,
    *,
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    """Make the calls of `plan` for `request`; the exchanges accumulate in `calls` (which
    answers again what an earlier run of the job was answered, without a call); `sessions`
    read what is stored (whether a day's intraday samples are worth a call)."""
    client = calls.withings
    summaries: SleepSummaryPage | None = None
    activity: ActivityPage | None = None
    for endpoint in plan.ranged:
        response = await calls.call(_ranged(endpoint, client, request, target))
        if isinstance(response, SleepSummaryPage):
            summaries = response
        elif isinstance(response, ActivityPage):
            activity = response
    if plan.per_record is Endpoint.SLEEP_GET and summaries is not None:
        for row in _main_nights(summaries.series):
            await calls.call(
                partial(
                    client.sleep_get,
                    startdate=_instant(row.startdate),
                    enddate=_instant(row.enddate),
                )
            )
    if plan.per_record is Endpoint.GETINTRADAYACTIVITY and activity is not None:
        windows = await _intraday_windows(sessions, request, target, activity)
        for start_s, end_s in windows:
            await calls.call(
                partial(
                    client.getintradayactivity,
                    startdate=_instant(start_s),
                    enddate=_instant(end_s),
                )
            )


async def _intraday_windows(
    sessions: async_sessionmaker[AsyncSession],
    request: FetchRequest,
    target: Target,
    page: ActivityPage,
) -> list[tuple[int, int]]:
    """The intraday windows (epoch seconds, at most 24 h each) worth a call for `page`.

    Every call counts against the deployment's 120 a minute, and activity is notified many
    times a day, so a day's samples are fetched once the day has ended in its zone (a day's
    physical summary is delivered only then: samples of a day in progress would be fetched
    again at each sync), and then only when its activity row is new or changed, or the
    stored summary has no samples yet (its last sync came before midnight: the day's close
    job makes this its final update). An unchanged day costs nothing.
    """
    now_s = utc_now().timestamp()
    window = None if request.lastupdate is not None else _date_window(request)
    days: dict[date, tuple[ActivityDay, int, int]] = {}
    for day, row in preferred_rows(page.activities).items():
        if window is not None and not window[0] <= day <= window[1]:
            continue
        try:
            tz = zone(row.timezone)
        except ValueError:
            continue  # the transform skips this row too
        start_s, end_s = (
            int(start_of_day(day, tz).timestamp()),
            int(end_of_day(day, tz).timestamp()),
        )
        if end_s <= now_s:
            days[day] = (row, start_s, end_s)
    if not days:
        return []
    async with sessions() as session:
        stored = await stored_physical_summaries(session, target.user.id, days)
    windows: list[tuple[int, int]] = []
    for day, (row, start_s, end_s) in sorted(days.items()):
        previous = stored.get(day)
        if previous is not None and has_intraday(previous) and activity_row(previous) == row.raw:
            continue
        # Withings answers at most 24 h a call; a 25-hour day (DST) takes two.
        windows.extend(
            (at_s, min(at_s + _INTRADAY_SPAN_S, end_s))
            for at_s in range(start_s, end_s, _INTRADAY_SPAN_S)
        )
    return windows


def _ranged(
    endpoint: Endpoint, client: WithingsClient, request: FetchRequest, target: Target
) -> Callable[[str], Awaitable[object]]:
    """The call of a ranged endpoint for `request`: its window, or `lastupdate`."""
    if request.lastupdate is not None:
        since = _instant(request.lastupdate)
        if endpoint is Endpoint.HEART_LIST:
            # Heart `list` has no lastupdate: recordings are listed by when they were taken.
            return partial(client.heart_list, startdate=since - _HEART_LOOKBACK)
        by_change: dict[Endpoint, Callable[..., Awaitable[object]]] = {
            Endpoint.GETMEAS: client.getmeas,
            Endpoint.GETACTIVITY: client.getactivity,
            Endpoint.GETWORKOUTS: client.getworkouts,
            Endpoint.SLEEP_GETSUMMARY: client.sleep_getsummary,
        }
        return partial(by_change[endpoint], lastupdate=since)
    if endpoint is Endpoint.GETMEAS:
        start, end = _epoch_window(request)
        return partial(client.getmeas, startdate=start, enddate=end)
    if endpoint is Endpoint.HEART_LIST:
        start, end = _epoch_window(request)
        return partial(client.heart_list, startdate=start, enddate=end)
    if endpoint is Endpoint.SLEEP_GETSUMMARY:
        first, last = _night_dates(request, target.zone, tz_known=target.timezone is not None)
        return partial(client.sleep_getsummary, startdateymd=first, enddateymd=last)
    by_date: dict[Endpoint, Callable[..., Awaitable[object]]] = {
        Endpoint.GETACTIVITY: client.getactivity,
        Endpoint.GETWORKOUTS: client.getworkouts,
    }
    first, last = _date_window(request)
    return partial(by_date[endpoint], startdateymd=first, enddateymd=last)


def _main_nights(rows: Sequence[SleepSummaryRow]) -> list[SleepSummaryRow]:
    """The rows that become documents (one per date, as the transform chooses them): only
    their nights need their per-minute detail."""
    chosen = main_sessions(
        rows,
        day=lambda row: row.date,
        length_s=lambda row: row.enddate - row.startdate,
        recency=lambda row: row.modified or 0,
    )
    return [row for _, row in sorted(chosen.items())]


def _instant(epoch_s: int) -> datetime:
    return datetime.fromtimestamp(epoch_s, UTC)


def _epoch_window(request: FetchRequest) -> tuple[datetime, datetime]:
    assert isinstance(request.start, int)
    assert isinstance(request.end, int)
    return _instant(request.start), _instant(request.end)


def _date_window(request: FetchRequest) -> tuple[date, date]:
    return date.fromisoformat(str(request.start)), date.fromisoformat(str(request.end))


def _night_dates(request: FetchRequest, tz: ZoneInfo, *, tz_known: bool) -> tuple[date, date]:
    """The local dates Withings files the nights of an epoch window under (a night's date is
    its wake-up day); one day wider on each side while the user's zone is unknown."""
    assert isinstance(request.start, int)
    assert isinstance(request.end, int)
    last = local_date(request.end, tz)
    first = min(local_date(request.start + _NIGHT_OFFSET.total_seconds(), tz), last)
    if not tz_known:
        first, last = first - timedelta(days=1), last + timedelta(days=1)
    return first, last


async def archived_by(session: AsyncSession, job: Job) -> list[RawCall]:
    """The exchanges earlier runs of `job` archived (deferred or failed runs)."""
    if job.connection_id is None:
        return []
    rows = await session.scalars(
        select(RawExchange)
        .where(RawExchange.connection_id == job.connection_id, RawExchange.job_id == job.id)
        .order_by(RawExchange.id)
    )
    return [_Archived(row) for row in rows]


class _Archived:
    """An archived exchange read back as a `RawCall`."""

    __slots__ = ("action", "http_status", "params", "response_text", "service")

    def __init__(self, row: RawExchange) -> None:
        self.service = row.service
        self.action = row.action
        self.params: Mapping[str, str] = {str(k): str(v) for k, v in row.params.items()}
        self.http_status = row.http_status
        self.response_text = (
            None if row.response_zlib is None else zlib.decompress(row.response_zlib).decode()
        )


async def _archive_failure(
    ctx: JobContext,
    job: Job,
    target: Target,
    calls: JobCalls,
    error: str | None,
    *,
    tell_client: bool = False,
) -> None:
    """Archive what a run that did not finish fetched, and note its error (in one transaction)."""
    if not calls.exchanges and error is None:
        return
    now = utc_now()
    async with ctx.sessions.begin() as session:
        for exchange in calls.exchanges:
            await archive_exchange(
                session, connection_id=target.connection_id, job_id=job.id, exchange=exchange
            )
        if error is not None:
            await record_error(session, target.connection_id, error, now=now)
        if tell_client:
            await enqueue_client_event(
                session,
                client=target.client,
                user_id=target.user.user_id,
                action=ClientEvent.EXTRACTION_FAILED,
                level=EventLevel.ERROR,
                message=f"Withings data could not be fetched: {error}",
            )


async def _store(
    ctx: JobContext,
    job: Job,
    request: FetchRequest,
    target: Target,
    exchanges: Sequence[RawCall],
    calls: JobCalls,
    plan: FetchPlan,
    close: date | None,
) -> None:
    """Archive, store, deliver (closing the day `close`, if any) and finish the job, in one
    transaction."""
    timezone = learned_timezone(exchanges) or target.timezone
    new_heights = learned_heights(exchanges)
    user_ctx = UserContext(
        client_uuid=str(target.client.id),
        user_id=target.user.user_id,
        timezone=zone(timezone or "UTC"),
        heights=(*target.heights, *new_heights),
    )
    produced = produce_documents(exchanges, user_ctx)
    now = utc_now()
    async with ctx.sessions.begin() as session:
        state = await locked_state(session, target.connection_id, now=now)
        connection = await session.get(WithingsConnection, target.connection_id)
        for exchange in calls.exchanges:
            await archive_exchange(
                session, connection_id=target.connection_id, job_id=job.id, exchange=exchange
            )
        stored = None
        if connection is not None and connection.state is ConnectionState.LINKED:
            stored = await store_documents(
                session,
                client=target.client,
                user=target.user,
                connection_id=target.connection_id,
                produced=produced,
                ctx=user_ctx,
                now=now,
            )
            if close is not None:
                await close_day(session, client=target.client, user=target.user, day=close, now=now)
        state.timezone = timezone
        merge_heights(state, new_heights)
        state.last_fetch_at = now
        state.last_error = None
        state.last_error_at = None
        if request.lastupdate is not None or request.backfill:
            seen = seen_until(exchanges, plan.ranged)
            if seen is not None and request.backfill and isinstance(request.end, int):
                # A backfill that ran late (deferred, retried) saw nothing dated after its
                # window: the cursor stays at the window's end, so that the daily check pulls
                # what arrived since, should its notification be lost.
                seen = min(seen, request.end)
            if seen is not None:
                await advance_cursor(session, target.connection_id, request.domain, seen, now=now)
        if request.backfill:
            _count_backfill_step(state, now)
        await ctx.complete_in(session)
    if stored is not None:
        ctx.resources.metrics.record_documents(
            new_versions=stored.new_versions, unchanged=stored.unchanged
        )
    logger.info(
        "fetched",
        domain=request.domain.value,
        calls=calls.calls_made,
        documents=len(produced),
        new_versions=0 if stored is None else stored.new_versions,
        delivered=0 if stored is None else stored.delivered_now,
    )


def _count_backfill_step(state: SyncState, now: datetime) -> None:
    state.backfill_steps_done = min(state.backfill_steps_done + 1, state.backfill_steps_total)
    if state.backfill_steps_done >= state.backfill_steps_total:
        state.backfill_status = BackfillStatus.DONE
        state.backfill_finished_at = now
