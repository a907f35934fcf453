"""Versioned documents: stored under their identity with their fingerprint, and read back.

Storing: the same fingerprint again changes nothing; a new one replaces the stored content with
`document_version + 1` (never adding a re-delivered record to the old one) and, when asked,
hands the new version to delivery in the same transaction.

Concurrency: fingerprints are first compared without locks (re-fetching identical data, the
common case, contends with nothing). Only when something changed does `store_produced` lock the
client's change counter; every document write of a client happens under that lock, so two
workers storing one identity cannot both create version 2, and change sequence numbers become
visible in the order they were drawn, which is what lets the changes feed page without loss.

Reading: the query API's lookups return the stored JSON as it was delivered, without decoding.
Cursors are opaque strings; a malformed one raises `InvalidInputError`.
"""

from __future__ import annotations

import base64
import binascii
import uuid
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Final

from sqlalchemy import and_, bindparam, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from rookery.errors import InvalidInputError
from rookery.model.common import (
    DataStructure,
    EventDocument,
    Metadata,
    Pillar,
    RookDocument,
    SummaryDocument,
)
from rookery.model.identity import DocumentIdentity, fingerprint
from rookery.store.dialect import insert_ignoring_conflict
from rookery.store.tables import Document, DocumentChangeCounter, User
from rookery.transform.context import Produced

MAX_PAGE_SIZE: Final = 1000
# Bound parameters per IN list, well under SQLite's limit.
_IN_CHUNK: Final = 500
_RANGE_CURSOR: Final = "r1"
_CHANGES_CURSOR: Final = "c1"

IdentityKey = tuple[Pillar, DataStructure, str]


@dataclass(frozen=True, slots=True)
class StoredChange:
    """A new version of a document, written in the caller's transaction.

    `body` is the stored JSON, `document_version` included: what delivery sends.
    `datetime_string` is the document's `metadata.datetime_string` (an event document's, its
    event's): what X-ROOK-HASH signs.
    """

    document_id: int
    identity: DocumentIdentity
    local_date: date
    document_version: int
    body: bytes
    datetime_string: str | None
    change_seq: int


NewVersionHook = Callable[[StoredChange], Awaitable[None]]
"""Called once per new version, in the storing transaction, when `deliver` is true."""


@dataclass(frozen=True, slots=True)
class DocumentPage:
    """One page of stored document bodies (JSON text, as delivered) and where the next starts.

    `next_cursor` is None when a range read is complete. The changes feed always returns a
    cursor (poll it again later); `has_more` says whether more changes are already there.
    """

    bodies: list[str]
    next_cursor: str | None
    has_more: bool


@dataclass(frozen=True, slots=True)
class _Candidate:
    produced: Produced
    fingerprint: str

    @property
    def key(self) -> IdentityKey:
        identity = self.produced.identity
        return identity.pillar, identity.data_structure, identity.source_key


async def store_produced(
    session: AsyncSession,
    *,
    client_id: uuid.UUID,
    user_pk: uuid.UUID,
    produced: Iterable[Produced],
    deliver: bool,
    on_new_version: NewVersionHook | None = None,
) -> list[StoredChange]:
    """Store what a transform produced for one user of `client_id`; return the new versions.

    Per identity (the last item wins when `produced` names one twice): an unknown identity is
    stored as version 1, a different fingerprint as the stored version + 1 with the body
    replaced, the same fingerprint changes nothing. When `deliver` is true, `on_new_version` is
    awaited for each new version (it enqueues the delivery in the same transaction); it is
    required then. Nothing is committed here.
    """
    if deliver and on_new_version is None:
        raise ValueError("store_produced(deliver=True) needs on_new_version")
    candidates = _latest_per_identity(produced)
    if not candidates:
        return []
    stored = await _stored(session, user_pk, candidates, lock=False)
    pending = [c for c in candidates if _fingerprint_of(stored.get(c.key)) != c.fingerprint]
    if not pending:
        return []
    last_seq = await _lock_counter(session, client_id)
    # Re-read under the lock: a concurrent writer may have stored the same content meanwhile.
    # Not on SQLite, whose transactions hold the write lock from their BEGIN IMMEDIATE.
    if session.get_bind().dialect.name != "sqlite":
        stored = await _stored(session, user_pk, pending, lock=True)
    written: list[tuple[Document, Produced]] = []
    for candidate in pending:
        row = stored.get(candidate.key)
        if row is not None and row.fingerprint == candidate.fingerprint:
            continue
        last_seq += 1
        written.append(
            (_write(session, client_id, user_pk, candidate, row, last_seq), candidate.produced)
        )
    if not written:
        return []
    await session.execute(
        update(DocumentChangeCounter)
        .where(DocumentChangeCounter.client_id == client_id)
        .values(last_change_seq=last_seq)
    )
    await session.flush()  # assigns the ids of new rows
    changes = [
        StoredChange(
            document_id=row.id,
            identity=item.identity,
            local_date=item.local_date,
            document_version=row.document_version,
            body=row.body_json.encode(),
            datetime_string=row.datetime_string,
            change_seq=row.change_seq,
        )
        for row, item in written
    ]
    if deliver and on_new_version is not None:
        for change in changes:
            await on_new_version(change)
    return changes


def _latest_per_identity(produced: Iterable[Produced]) -> list[_Candidate]:
    latest: dict[IdentityKey, Produced] = {}
    for item in produced:
        identity = item.identity
        latest[identity.pillar, identity.data_structure, identity.source_key] = item
    return [_Candidate(item, fingerprint(item.document)) for item in latest.values()]


def _fingerprint_of(row: Document | None) -> str | None:
    return None if row is None else row.fingerprint


async def _stored(
    session: AsyncSession, user_pk: uuid.UUID, candidates: Sequence[_Candidate], *, lock: bool
) -> dict[IdentityKey, Document]:
    """The stored rows of these identities (locked FOR UPDATE where the engine has it)."""
    wanted = {candidate.key for candidate in candidates}
    source_keys = sorted({key[2] for key in wanted})
    found: dict[IdentityKey, Document] = {}
    for start in range(0, len(source_keys), _IN_CHUNK):
        query = select(Document).where(
            Document.user_pk == user_pk,
            Document.source_key.in_(source_keys[start : start + _IN_CHUNK]),
        )
        if lock:
            # populate_existing: a row already in the session must show what was committed since.
            query = query.with_for_update().execution_options(populate_existing=True)
        for row in await session.scalars(query):
            key = (row.pillar, row.data_structure, row.source_key)
            if key in wanted:
                found[key] = row
    return found


async def _lock_counter(session: AsyncSession, client_id: uuid.UUID) -> int:
    """Lock the client's change counter (creating it at 0) and return its value."""
    query = (
        select(DocumentChangeCounter.last_change_seq)
        .where(DocumentChangeCounter.client_id == client_id)
        .with_for_update()
    )
    last_seq = await session.scalar(query)
    if last_seq is None:  # the client's first document
        await session.execute(
            insert_ignoring_conflict(
                session,
                DocumentChangeCounter,
                {"client_id": client_id, "last_change_seq": 0},
                index_elements=["client_id"],
            )
        )
        last_seq = await session.scalar(query)
    if last_seq is None:  # only a concurrent deletion of the client removes it
        raise InvalidInputError(f"no client {client_id}")
    return last_seq


def _write(
    session: AsyncSession,
    client_id: uuid.UUID,
    user_pk: uuid.UUID,
    candidate: _Candidate,
    row: Document | None,
    change_seq: int,
) -> Document:
    """Write the candidate as the identity's next version: a new row, or `row` updated."""
    item = candidate.produced
    version = 1 if row is None else row.document_version + 1
    datetime_string = reference_datetime(item.document)
    if row is None:
        identity = item.identity
        row = Document(
            client_id=client_id,
            user_pk=user_pk,
            pillar=identity.pillar,
            data_structure=identity.data_structure,
            source_key=identity.source_key,
        )
        session.add(row)
    row.local_date = item.local_date
    row.document_version = version
    row.fingerprint = candidate.fingerprint
    row.body_json = item.document.model_copy(update={"document_version": version}).model_dump_json()
    row.datetime_string = datetime_string
    row.occurred_at = None if datetime_string is None else datetime.fromisoformat(datetime_string)
    row.change_seq = change_seq
    return row


def reference_datetime(document: RookDocument) -> str | None:
    """The document's `metadata.datetime_string`; an event document's is its first event's."""
    metadata: Metadata | None = None
    if isinstance(document, SummaryDocument):
        metadata = document.summary.metadata
    elif isinstance(document, EventDocument) and document.events:
        metadata = document.events[0].metadata
    return None if metadata is None else metadata.datetime_string


# ---------------------------------------------------------------------------------------------
# Reads


async def day_bodies(
    session: AsyncSession,
    *,
    client_id: uuid.UUID,
    user_id: str,
    pillar: Pillar,
    data_structure: DataStructure,
    local_date: date,
) -> list[str]:
    """The stored JSON of the client's user's documents of one structure on one local date
    (latest versions), events in time order. Empty for an unknown user: nothing tells a user
    without data from no user at all."""
    # The query API's hottest read: one statement built once, run on the connection (no ORM
    # bookkeeping for a column of text).
    connection = await session.connection()
    result = await connection.execute(
        _DAY_BODIES,
        {
            "client_id": client_id,
            "user_id": user_id,
            "pillar": pillar,
            "data_structure": data_structure,
            "local_date": local_date,
        },
    )
    return list(result.scalars())


_DAY_BODIES: Final = (
    select(Document.body_json)
    .join(User, User.id == Document.user_pk)
    .where(
        User.client_id == bindparam("client_id"),
        User.user_id == bindparam("user_id"),
        Document.pillar == bindparam("pillar"),
        Document.data_structure == bindparam("data_structure"),
        Document.local_date == bindparam("local_date"),
    )
    .order_by(Document.occurred_at, Document.id)
)


async def documents_in_range(
    session: AsyncSession,
    *,
    client_id: uuid.UUID,
    user_id: str,
    from_date: date,
    to_date: date,
    pillar: Pillar | None = None,
    data_structure: DataStructure | None = None,
    cursor: str | None = None,
    limit: int = 100,
) -> DocumentPage:
    """The client's user's documents whose local date is in [from_date, to_date], by local date
    then storage order, `limit` at a time; pass `next_cursor` back for the next page.

    Pages neither repeat nor skip a document that existed when the read began, whatever is
    written meanwhile (keyset pagination on (local date, id)).
    """
    _check_limit(limit)
    if from_date > to_date:
        raise InvalidInputError("from_date is after to_date")
    query = (
        select(Document.body_json, Document.local_date, Document.id)
        .join(User, User.id == Document.user_pk)
        .where(
            User.client_id == client_id,
            User.user_id == user_id,
            Document.local_date >= from_date,
            Document.local_date <= to_date,
        )
        .order_by(Document.local_date, Document.id)
        .limit(limit + 1)
    )
    if pillar is not None:
        query = query.where(Document.pillar == pillar)
    if data_structure is not None:
        query = query.where(Document.data_structure == data_structure)
    if cursor is not None:
        after_date, after_id = _decode_range_cursor(cursor)
        query = query.where(
            or_(
                Document.local_date > after_date,
                and_(Document.local_date == after_date, Document.id > after_id),
            )
        )
    rows = (await session.execute(query)).all()
    has_more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = _encode(_RANGE_CURSOR, rows[-1][1].isoformat(), rows[-1][2]) if has_more else None
    return DocumentPage([row[0] for row in rows], next_cursor, has_more)


async def changes_since(
    session: AsyncSession, *, client_id: uuid.UUID, cursor: str | None = None, limit: int = 100
) -> DocumentPage:
    """The client's documents changed since `cursor` (from the start without one), oldest
    change first, each at its latest version; `next_cursor` resumes after the last one.

    A document changed again later moves to its new place in the feed. Every committed change
    is seen: sequence numbers become visible in the order they were drawn.
    """
    _check_limit(limit)
    after_seq = 0 if cursor is None else _decode_changes_cursor(cursor)
    query = (
        select(Document.body_json, Document.change_seq)
        .where(Document.client_id == client_id, Document.change_seq > after_seq)
        .order_by(Document.change_seq)
        .limit(limit + 1)
    )
    rows = (await session.execute(query)).all()
    has_more = len(rows) > limit
    rows = rows[:limit]
    last_seq = rows[-1][1] if rows else after_seq
    return DocumentPage([row[0] for row in rows], _encode(_CHANGES_CURSOR, last_seq), has_more)


def _check_limit(limit: int) -> None:
    if not 1 <= limit <= MAX_PAGE_SIZE:
        raise InvalidInputError(f"limit must be 1 to {MAX_PAGE_SIZE}")


def _encode(kind: str, *parts: object) -> str:
    text = ":".join((kind, *(str(part) for part in parts)))
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def _decode(cursor: str, kind: str, arity: int) -> list[str]:
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise InvalidInputError("cursor is not one this API returned") from None
    parts = text.split(":")
    if len(parts) != arity + 1 or parts[0] != kind:
        raise InvalidInputError("cursor is not one this API returned")
    return parts[1:]


def _decode_range_cursor(cursor: str) -> tuple[date, int]:
    day, document_id = _decode(cursor, _RANGE_CURSOR, 2)
    try:
        return date.fromisoformat(day), int(document_id)
    except ValueError:
        raise InvalidInputError("cursor is not one this API returned") from None


def _decode_changes_cursor(cursor: str) -> int:
    (seq,) = _decode(cursor, _CHANGES_CURSOR, 1)
    try:
        return int(seq)
    except ValueError:
        raise InvalidInputError("cursor is not one this API returned") from None
