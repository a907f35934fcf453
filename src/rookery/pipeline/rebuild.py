"""From raw Withings exchanges to ROOK documents, and replaying the archive through it.

`produce_documents` is the one place that decides which responses combine into which
documents; the live pipeline and `rookery replay` both call it, so a replay with an unchanged
mapping rebuilds exactly what was stored. Its rules today:
- continuation pages (an `offset` parameter) join the fetch they continue (same endpoint and
  parameters apart from `offset`), as the Withings client merges them when fetching;
- a sleep `getsummary` takes the sleep `get` responses of the same set as its granular detail,
  and those responses then yield nothing on their own; without a `getsummary`, sleep `get`
  yields summaries from its segments;
- every other fetch yields what `rookery.transform.dispatch` makes of it;
- when two fetches yield the same identity, the later one wins (it is newer data).
A response that is not a successful data response (an error status, a malformed body, a call
that is not one of the seven data endpoints) yields nothing.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Protocol

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from rookery.store.archive import ArchivedConnection, ArchivedExchange, archived_exchanges
from rookery.store.documents import NewVersionHook, store_produced
from rookery.store.tables import RawExchange
from rookery.transform.context import HeightReading, Produced, UserContext
from rookery.transform.dispatch import transform_response
from rookery.transform.measure import heights_in, kept_groups
from rookery.transform.sleep import sleep_summaries
from rookery.transform.time import zone
from rookery.withings.errors import WithingsError, unwrap
from rookery.withings.responses import (
    Endpoint,
    SleepSeries,
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
    details = [fetch for fetch in fetches if fetch.endpoint is Endpoint.SLEEP_GET]
    has_summary = any(fetch.endpoint is Endpoint.SLEEP_GETSUMMARY for fetch in fetches)
    detail = parse_sleep_get(_concatenated(details)) if details and has_summary else None
    latest: dict[tuple[str, str, str], Produced] = {}
    for fetch in fetches:
        if fetch.endpoint is Endpoint.SLEEP_GET and has_summary:
            continue
        for item in _transformed(fetch, ctx, detail):
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


def _transformed(fetch: _Fetch, ctx: UserContext, detail: SleepSeries | None) -> list[Produced]:
    try:
        if fetch.endpoint is Endpoint.SLEEP_GETSUMMARY:
            return sleep_summaries(parse_sleep_getsummary(fetch.body), ctx, detail)
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
    storing (and, when `deliver`, delivering through `hook_factory`'s hooks) the new versions.

    The archive is read twice (the user's context, then the documents) in short transactions;
    documents are stored `STORE_BATCH` per transaction. `advance(n)` reports exchanges read.
    """
    if deliver and hook_factory is None:
        raise ValueError("replay_connection(deliver=True) needs hook_factory")
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
    latest: dict[tuple[str, str, str], Produced] = {}
    async for group in _by_job(archived_exchanges(sessions, connection.connection_id)):
        counts.exchanges += len(group)
        for item in produce_documents(group, ctx):
            identity = item.identity
            key = (identity.pillar, identity.data_structure, identity.source_key)
            latest.pop(key, None)
            latest[key] = item
        if advance is not None:
            advance(len(group))
    produced = list(latest.values())
    counts.documents += len(produced)
    for start in range(0, len(produced), STORE_BATCH):
        async with sessions.begin() as session:
            changes = await store_produced(
                session,
                client_id=connection.client_id,
                user_pk=connection.user_pk,
                produced=produced[start : start + STORE_BATCH],
                deliver=deliver,
                on_new_version=(
                    await hook_factory(session, connection) if hook_factory is not None else None
                ),
            )
        counts.new_versions += len(changes)
    return counts


async def _by_job(
    exchanges: AsyncIterator[ArchivedExchange],
) -> AsyncIterator[list[ArchivedExchange]]:
    """Consecutive exchanges of one job (or of no job) as one set."""
    group: list[ArchivedExchange] = []
    async for exchange in exchanges:
        if group and exchange.job_id != group[-1].job_id:
            yield group
            group = []
        group.append(exchange)
    if group:
        yield group
