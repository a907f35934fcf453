"""From raw Withings exchanges to ROOK documents, and replaying the archive through it.

`produce_documents` is the one place that decides which responses combine into which
documents; the live pipeline and `rookery replay` both call it, so a replay with an unchanged
mapping rebuilds exactly what was stored. Its rules today:
- continuation pages (an `offset` parameter) join the fetch they continue (same endpoint and
  parameters apart from `offset`), as the Withings client merges them when fetching;
- a sleep `getsummary` takes the sleep `get` responses of the same set as its granular detail,
  and those responses then yield nothing on their own; without a `getsummary`, sleep `get`
  yields summaries from its segments;
- likewise a `getactivity` takes the `getintradayactivity` responses of the same set as the
  granular steps and heart rate of its days, and those then yield nothing on their own (a
  summary of intraday samples alone would replace the day's totals with nulls);
- every other fetch yields what `rookery.transform.dispatch` makes of it;
- when two fetches yield the same identity, the later one wins (it is newer data).
Replaying, each job's exchanges are one such set, and the sets are stored as the live pipeline
stores them (`rookery.pipeline.documents`), with its one exception to "the later wins": a
physical summary fetched without intraday samples does not replace one with them while its
activity row is the same.
A response that is not a successful data response (an error status, a malformed body, a call
that is not one of the seven data endpoints) yields nothing.
"""

from __future__ import annotations

import json
from collections.abc import (
    AsyncIterator,
    Awaitable,
    Callable,
    Iterable,
    Iterator,
    Mapping,
    Sequence,
)
from dataclasses import dataclass
from typing import Any, Final, Protocol

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from rookery.pipeline.documents import repeats_without_detail, store_documents
from rookery.pipeline.state import locked_state
from rookery.store.archive import ArchivedConnection, ArchivedExchange, archived_exchanges
from rookery.store.documents import NewVersionHook
from rookery.store.tables import Client, RawExchange, User, utc_now
from rookery.transform.activity import physical_summaries
from rookery.transform.context import HeightReading, Produced, UserContext
from rookery.transform.dispatch import transform_response
from rookery.transform.measure import heights_in, kept_groups
from rookery.transform.sleep import sleep_summaries
from rookery.transform.time import zone
from rookery.withings.errors import WithingsError, unwrap
from rookery.withings.responses import (
    Endpoint,
    IntradayActivity,
    SleepSeries,
    parse_getactivity,
    parse_getintradayactivity,
    parse_getmeas,
    parse_sleep_get,
    parse_sleep_getsummary,
)

# The list of records each paged endpoint returns, which continuation pages extend.
PAGE_ITEMS: Final[Mapping[Endpoint, str]] = {
    Endpoint.GETMEAS: "measuregrps",
    Endpoint.GETACTIVITY: "activities",
    Endpoint.GETWORKOUTS: "series",
    Endpoint.SLEEP_GETSUMMARY: "series",
    Endpoint.HEART_LIST: "series",
}
_ENDPOINTS: Final[Mapping[tuple[str, str], Endpoint]] = {
    (endpoint.service, endpoint.action): endpoint for endpoint in Endpoint
}
_OFFSET: Final = "offset"
# Documents stored per transaction during a replay: bounded transactions, steady progress.
STORE_BATCH: Final = 200


class RawCall(Protocol):
    """One Withings call as the client records it (`Exchange`) or the archive keeps it."""

    @property
    def service(self) -> str: ...

    @property
    def action(self) -> str: ...

    @property
    def params(self) -> Mapping[str, str]: ...

    @property
    def http_status(self) -> int | None: ...

    @property
    def response_text(self) -> str | None: ...


@dataclass(slots=True)
class _Fetch:
    endpoint: Endpoint
    params: dict[str, str]
    body: dict[str, Any]


def produce_documents(calls: Iterable[RawCall], ctx: UserContext) -> list[Produced]:
    """The documents a set of raw calls of one connection yields (see the module docstring),
    in the order produced, each identity once."""
    fetches = _fetches(calls)
    present = {fetch.endpoint for fetch in fetches}
    has_summary = Endpoint.SLEEP_GETSUMMARY in present
    has_activity = Endpoint.GETACTIVITY in present
    details = [fetch for fetch in fetches if fetch.endpoint is Endpoint.SLEEP_GET]
    detail = parse_sleep_get(_concatenated(details)) if details and has_summary else None
    intraday = _intraday([f for f in fetches if f.endpoint is Endpoint.GETINTRADAYACTIVITY])
    latest: dict[tuple[str, str, str], Produced] = {}
    for fetch in fetches:
        if fetch.endpoint is Endpoint.SLEEP_GET and has_summary:
            continue
        if fetch.endpoint is Endpoint.GETINTRADAYACTIVITY and has_activity:
            continue
        for item in _transformed(fetch, ctx, detail, intraday if has_activity else None):
            identity = item.identity
            key = (identity.pillar, identity.data_structure, identity.source_key)
            latest.pop(key, None)  # re-inserted at the end: the order shows the latest data
            latest[key] = item
    return list(latest.values())


def user_context(calls: Iterable[RawCall], *, client_uuid: str, user_id: str) -> UserContext:
    """The user's context known from `calls`: every height their getmeas responses record, and
    the zone the latest of them names (UTC when none does)."""
    heights: list[HeightReading] = []
    timezone = "UTC"
    for fetch in _fetches(calls):
        if fetch.endpoint is not Endpoint.GETMEAS:
            continue
        try:
            page = parse_getmeas(fetch.body)
            page_zone = zone(page.timezone) if page.timezone is not None else None
        except (WithingsError, ValueError):
            continue
        heights.extend(heights_in(kept_groups(page.measuregrps)))
        if page_zone is not None:
            timezone = str(page_zone)
    return UserContext(
        client_uuid=client_uuid, user_id=user_id, timezone=zone(timezone), heights=tuple(heights)
    )


def _fetches(calls: Iterable[RawCall]) -> list[_Fetch]:
    fetches: list[_Fetch] = []
    for call in calls:
        endpoint = _ENDPOINTS.get((call.service, call.action))
        body = _successful_body(call, endpoint)
        if endpoint is None or body is None:
            continue
        params = {key: value for key, value in call.params.items() if key != _OFFSET}
        continued = _continued(fetches, endpoint, params) if _OFFSET in call.params else None
        if continued is None:
            fetches.append(_Fetch(endpoint, params, dict(body)))
            continue
        items = PAGE_ITEMS[endpoint]
        continued.body = {
            **continued.body,
            items: [*(continued.body.get(items) or ()), *(body.get(items) or ())],
            "more": body.get("more", False),
            _OFFSET: body.get(_OFFSET, 0),
        }
    return fetches


def _continued(
    fetches: Sequence[_Fetch], endpoint: Endpoint, params: dict[str, str]
) -> _Fetch | None:
    if endpoint not in PAGE_ITEMS:
        return None
    for fetch in reversed(fetches):
        if fetch.endpoint is endpoint and fetch.params == params:
            return fetch
    return None


def _successful_body(call: RawCall, endpoint: Endpoint | None) -> Mapping[str, Any] | None:
    if endpoint is None or call.response_text is None or call.http_status != 200:
        return None
    try:
        return unwrap(json.loads(call.response_text), service=call.service, action=call.action)
    except (WithingsError, ValueError, RecursionError):
        return None


def _concatenated(fetches: Sequence[_Fetch]) -> dict[str, Any]:
    """Sleep `get` bodies as one: their segments together (the sessions are told apart later)."""
    return {
        **fetches[0].body,
        "series": [segment for fetch in fetches for segment in fetch.body.get("series") or ()],
    }


def _intraday(fetches: Sequence[_Fetch]) -> IntradayActivity | None:
    """Intraday bodies as one: their samples together (keyed by epoch, so overlaps merge);
    None when there are none or they cannot be parsed."""
    if not fetches:
        return None
    series: dict[str, Any] = {}
    for fetch in fetches:
        part = fetch.body.get("series")
        if isinstance(part, Mapping):
            series.update(part)
    try:
        return parse_getintradayactivity({**fetches[0].body, "series": series})
    except WithingsError:
        return None


def _transformed(
    fetch: _Fetch,
    ctx: UserContext,
    detail: SleepSeries | None,
    intraday: IntradayActivity | None,
) -> list[Produced]:
    try:
        if fetch.endpoint is Endpoint.SLEEP_GETSUMMARY:
            return sleep_summaries(parse_sleep_getsummary(fetch.body), ctx, detail)
        if fetch.endpoint is Endpoint.GETACTIVITY:
            return physical_summaries(parse_getactivity(fetch.body), ctx, intraday)
        return transform_response(fetch.endpoint, fetch.body, ctx)
    except (WithingsError, ValueError):
        # A body the live pipeline could not have transformed either (malformed, unknown zone).
        return []


# ---------------------------------------------------------------------------------------------
# Replay


@dataclass(slots=True)
class ReplayCounts:
    """What a replay did."""

    connections: int = 0
    exchanges: int = 0
    documents: int = 0
    new_versions: int = 0


HookFactory = Callable[[AsyncSession, ArchivedConnection], Awaitable[NewVersionHook]]
"""Builds the delivery hook of one storing transaction of one connection's documents."""


async def count_archived(session: AsyncSession, connections: Sequence[ArchivedConnection]) -> int:
    """How many archived exchanges these connections have (a replay's total work)."""
    if not connections:
        return 0
    ids = [connection.connection_id for connection in connections]
    total = await session.scalar(
        select(func.count()).select_from(RawExchange).where(RawExchange.connection_id.in_(ids))
    )
    return total or 0


async def replay_connection(
    sessions: async_sessionmaker[AsyncSession],
    connection: ArchivedConnection,
    *,
    deliver: bool,
    hook_factory: HookFactory | None = None,
    advance: Callable[[int], None] | None = None,
    counts: ReplayCounts | None = None,
) -> ReplayCounts:
    """Rebuild the documents of one connection from its archive with the current transforms,
    storing them as the live pipeline does (`rookery.pipeline.documents.store_documents`:
    body summaries from the day's stored events; when `deliver`, the new versions delivered
    through `hook_factory`'s hooks, by default the client's webhook, and days closed as live
    closes them).

    Each job's exchanges (all its runs) are one set, as the live fetch saw them; the sets are
    applied in the order their jobs finished, the later winning per identity. The archive is
    read in short transactions; documents are stored about `STORE_BATCH` per transaction, a
    day never split. `advance(n)` reports exchanges read.
    """
    counts = counts if counts is not None else ReplayCounts()
    counts.connections += 1
    getmeas = [(Endpoint.GETMEAS.service, Endpoint.GETMEAS.action)]
    ctx = user_context(
        [
            call
            async for call in archived_exchanges(sessions, connection.connection_id, only=getmeas)
        ],
        client_uuid=str(connection.client_id),
        user_id=connection.user_id,
    )
    async with sessions() as session:
        last_ids = await _last_exchange_of_jobs(session, connection)
    latest: dict[tuple[str, str, str], Produced] = {}
    async for group in _by_job(archived_exchanges(sessions, connection.connection_id), last_ids):
        counts.exchanges += len(group)
        for item in produce_documents(group, ctx):
            identity = item.identity
            key = (identity.pillar, identity.data_structure, identity.source_key)
            previous = latest.pop(key, None)
            if previous is not None and repeats_without_detail(item, previous.document):
                item = previous
            latest[key] = item
        if advance is not None:
            advance(len(group))
    produced = list(latest.values())
    counts.documents += len(produced)
    for batch in _day_batches(produced):
        now = utc_now()
        async with sessions.begin() as session:
            await locked_state(session, connection.connection_id, now=now)
            stored = await store_documents(
                session,
                client=await session.get_one(Client, connection.client_id),
                user=await session.get_one(User, connection.user_pk),
                connection_id=connection.connection_id,
                produced=batch,
                ctx=ctx,
                now=now,
                deliver=deliver,
                on_new_version=(
                    await hook_factory(session, connection)
                    if deliver and hook_factory is not None
                    else None
                ),
            )
        counts.new_versions += stored.new_versions
    return counts


def _day_batches(produced: Sequence[Produced]) -> Iterator[list[Produced]]:
    """`produced` by local date, cut into batches of about `STORE_BATCH` between days: a day's
    body summary is rebuilt from its stored events, so they are all stored together."""
    batch: list[Produced] = []
    for item in sorted(produced, key=lambda item: item.local_date):
        if len(batch) >= STORE_BATCH and batch[-1].local_date != item.local_date:
            yield batch
            batch = []
        batch.append(item)
    if batch:
        yield batch


async def _last_exchange_of_jobs(
    session: AsyncSession, connection: ArchivedConnection
) -> dict[int, int]:
    """Each job's last archived exchange id (the job's last run)."""
    rows = await session.execute(
        select(RawExchange.job_id, func.max(RawExchange.id))
        .where(
            RawExchange.connection_id == connection.connection_id,
            RawExchange.job_id.is_not(None),
        )
        .group_by(RawExchange.job_id)
    )
    return {
        int(job_id): int(last_id)
        for job_id, last_id in rows
        if job_id is not None and last_id is not None
    }


async def _by_job(
    exchanges: AsyncIterator[ArchivedExchange], last_ids: Mapping[int, int]
) -> AsyncIterator[list[ArchivedExchange]]:
    """The exchanges of each job as one set (a retried job's runs interleave with other jobs'
    rows), each set once its last exchange is read; an exchange of no job is a set alone."""
    open_jobs: dict[int, list[ArchivedExchange]] = {}
    async for exchange in exchanges:
        if exchange.job_id is None:
            yield [exchange]
            continue
        group = open_jobs.setdefault(exchange.job_id, [])
        group.append(exchange)
        if exchange.id >= last_ids.get(exchange.job_id, exchange.id):
            yield open_jobs.pop(exchange.job_id)
    # Rows archived after the job ids were read: their jobs, in the order they started.
    for group in open_jobs.values():
        yield group
