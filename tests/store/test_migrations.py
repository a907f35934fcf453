"""Migrations on both engines: they build the schema on an empty database, match the models,
and `rookery db upgrade` brings a database that holds data at an older revision to the heads
with every row kept and usable."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import httpx2
import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import column as sa_column
from sqlalchemy import func, insert, inspect, select, text
from sqlalchemy import table as sa_table
from sqlalchemy.exc import IntegrityError, StatementError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker
from typer.testing import CliRunner

from rookery.app import create_app, open_resources
from rookery.cli import app
from rookery.config import Settings
from rookery.connections.context import ConnectionContext
from rookery.connections.deployment import NOTIFY_SECRET_NAME, notify_token
from rookery.connections.tokens import access_token
from rookery.jobs import queue
from rookery.jobs.kinds import JobKind
from rookery.store.crypto import hash_secret, load_cipher
from rookery.store.engine import create_engine
from rookery.store.migrate import alembic_config, upgrade
from rookery.store.tables import (
    AuditEvent,
    Base,
    User,
    WithingsNotification,
    utc_now,
)
from tests.jobs.conftest import process_environ

pytestmark = pytest.mark.anyio


async def test_upgrade_builds_every_table_on_an_empty_database(database_url: str) -> None:
    await upgrade(database_url)
    await upgrade(database_url)  # a second run has nothing to do

    engine = create_engine(database_url)
    async with engine.connect() as connection:
        tables = await connection.run_sync(lambda sync: set(inspect(sync).get_table_names()))
        connection_columns = await connection.run_sync(
            lambda sync: {c["name"] for c in inspect(sync).get_columns("withings_connections")}
        )
        version = await connection.scalar(text("SELECT version_num FROM alembic_version"))
    await engine.dispose()
    assert tables == set(Base.metadata.tables) | {"alembic_version"}
    assert version is not None
    assert tables >= {  # clients and their settings, users, links, OAuth states, audit
        "clients",
        "client_data_sources",
        "users",
        "withings_connections",
        "oauth_states",
        "audit_events",
    }
    assert connection_columns >= {
        "withings_userid",
        "scopes",
        "access_token_expires_at",
        "state",
        "access_token_encrypted",
        "refresh_token_encrypted",
    }


async def test_models_and_migrations_agree(engine: AsyncEngine) -> None:
    async with engine.connect() as connection:
        differences = await connection.run_sync(
            lambda sync: compare_metadata(
                MigrationContext.configure(sync, opts={"compare_type": True}), Base.metadata
            )
        )
    assert differences == []


async def test_sqlite_connections_use_wal_and_foreign_keys(sqlite_url: str) -> None:
    engine = create_engine(sqlite_url)
    async with engine.connect() as connection:
        journal_mode = await connection.scalar(text("PRAGMA journal_mode"))
        foreign_keys = await connection.scalar(text("PRAGMA foreign_keys"))
        synchronous = await connection.scalar(text("PRAGMA synchronous"))
        busy_timeout = await connection.scalar(text("PRAGMA busy_timeout"))
    await engine.dispose()
    # busy_timeout 0: the engine waits for the write lock in asyncio (tests/store/test_engine.py).
    assert (journal_mode, foreign_keys, synchronous, busy_timeout) == ("wal", 1, 1, 0)


async def test_foreign_keys_are_enforced(sessions: async_sessionmaker[AsyncSession]) -> None:
    with pytest.raises(IntegrityError):
        async with sessions.begin() as session:
            session.add(User(client_id=uuid.uuid4(), user_id="orphan"))


async def test_a_savepoint_rolls_back_alone(sessions: async_sessionmaker[AsyncSession]) -> None:
    async with sessions.begin() as session:
        session.add(AuditEvent(actor="test", action="kept"))
        savepoint = await session.begin_nested()
        session.add(AuditEvent(actor="test", action="dropped"))
        await session.flush()
        await savepoint.rollback()
    async with sessions() as session:
        actions = (await session.scalars(select(AuditEvent.action))).all()
    assert actions == ["kept"]


async def test_instants_come_back_aware_in_utc(sessions: async_sessionmaker[AsyncSession]) -> None:
    paris_summer = timezone(timedelta(hours=2))
    written = datetime(2026, 7, 1, 23, 30, 15, 123456, tzinfo=paris_summer)
    async with sessions.begin() as session:
        session.add(AuditEvent(actor="test", action="timed", at_utc=written))
    async with sessions() as session:
        read = await session.scalar(select(AuditEvent.at_utc))
    assert read == written
    assert read is not None
    assert read.tzinfo is UTC
    assert read.hour == 21


async def test_a_naive_datetime_is_refused(sessions: async_sessionmaker[AsyncSession]) -> None:
    with pytest.raises(StatementError, match="naive datetime"):
        async with sessions.begin() as session:
            session.add(AuditEvent(actor="test", action="naive", at_utc=datetime(2026, 1, 1)))


async def test_database_errors_do_not_show_the_values_involved(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    with pytest.raises(IntegrityError) as caught:
        async with sessions.begin() as session:
            session.add(User(client_id=uuid.uuid4(), user_id="secret-looking-value"))
    assert "secret-looking-value" not in str(caught.value)


# The revisions after the base, each a branch of its own off 0001 (all of them are heads).
BRANCH_REVISIONS = (
    "0002_jobs",
    "0003_deliveries",
    "0004_documents",
    "0005_linking",
    "0006_pipeline",
)
# Columns a later revision drops, and why: their values are not expected to survive.
DROPPED_COLUMNS = {
    # 0008_notified_at_derived: read from withings_notifications instead.
    ("pipeline_sync_states", "last_notification_at"),
}
BASE_TABLES_WRITTEN = {
    "clients",
    "client_data_sources",
    "users",
    "withings_connections",
    "audit_events",
}
USER_ID = "user-1"
WITHINGS_USERID = 1001
SLEEP_DAY = date(2023, 11, 14)
DOCUMENT_BODY = '{"data_structure":"sleep_summary","document_version":1}'


@dataclass(frozen=True, slots=True)
class Written:
    """What was written at the old revision, to look for once upgraded."""

    client_uuid: uuid.UUID
    secret_key: str
    connection_id: uuid.UUID
    access_token: str
    job_id: int | None = None
    delivery_id: uuid.UUID | None = None
    notify_token: str | None = None


async def _insert(connection: AsyncConnection, table: str, **values: Any) -> None:
    """Insert one row naming only the columns given, typed as the models type them: the SQL is
    what the older revision's schema takes even where a later revision added columns."""
    typed = Base.metadata.tables[table].c
    clause = sa_table(table, *(sa_column(name, typed[name].type) for name in values))
    await connection.execute(insert(clause).values(values))


async def _write_at(settings: Settings, revision: str) -> Written:
    """Representative rows of the base tables and of the tables `revision` adds, as they were
    at that revision."""
    cipher = load_cipher(settings)
    now = utc_now()
    client_uuid, user_pk, connection_id = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    secret_key, access = "secret-" + uuid.uuid4().hex, "access-" + uuid.uuid4().hex
    written = Written(client_uuid, secret_key, connection_id, access)
    engine = create_engine(settings.database_url)
    try:
        async with engine.begin() as connection:
            await _insert(
                connection,
                "clients",
                id=client_uuid,
                name="Acme Health",
                secret_key_sha256=hash_secret(secret_key),
                hash_key_encrypted=cipher.encrypt("hash-key"),
                webhook_secret_encrypted=cipher.encrypt("whsec_c2VjcmV0"),
                data_webhook_url="https://acme.example/data",
                notification_webhook_url=None,
                created_at=now,
                updated_at=now,
            )
            await _insert(
                connection,
                "client_data_sources",
                client_id=client_uuid,
                data_source="Withings",
                enabled=True,
                updated_at=now,
            )
            await _insert(
                connection,
                "users",
                id=user_pk,
                client_id=client_uuid,
                user_id=USER_ID,
                created_at=now,
            )
            await _insert(
                connection,
                "withings_connections",
                id=connection_id,
                user_pk=user_pk,
                withings_userid=WITHINGS_USERID,
                scopes=["user.activity", "user.metrics"],
                access_token_encrypted=cipher.encrypt(access),
                refresh_token_encrypted=cipher.encrypt("refresh-" + uuid.uuid4().hex),
                access_token_expires_at=now + timedelta(hours=3),
                state="linked",
                subscribed_applis=[1, 44],
                linked_at=now,
                unlinked_at=None,
                created_at=now,
                updated_at=now,
            )
            await _insert(
                connection,
                "audit_events",
                at_utc=now,
                actor="cli",
                action="client.created",
                client_id=client_uuid,
                subject=None,
                details={"name": "Acme Health"},
            )
            if revision == "0002_jobs":
                await _insert(
                    connection,
                    "jobs",
                    kind=JobKind.WITHINGS_SUBSCRIBE.value,
                    payload={"connection_id": str(connection_id)},
                    priority=0,
                    status="queued",
                    run_at=now,
                    attempts=0,
                    max_attempts=5,
                    connection_id=connection_id,
                    created_at=now,
                    updated_at=now,
                )
                job_id = await connection.scalar(text("SELECT max(id) FROM jobs"))
                written = dataclasses.replace(written, job_id=job_id)
                await _insert(connection, "scheduled_tasks", name="test.task", next_run_at=now)
            elif revision == "0003_deliveries":
                delivery_id = uuid.uuid4()
                await _insert(
                    connection,
                    "deliveries",
                    id=delivery_id,
                    client_id=client_uuid,
                    user_pk=user_pk,
                    user_id=USER_ID,
                    kind="notification",
                    event="data_source_linked",
                    datetime_string=now.isoformat(),
                    body=b'{"action":"data_source_linked"}',
                    status="pending",
                    attempts=0,
                    next_attempt_at=now,
                    created_at=now,
                )
                written = dataclasses.replace(written, delivery_id=delivery_id)
            elif revision == "0004_documents":
                await _insert(
                    connection,
                    "documents",
                    client_id=client_uuid,
                    user_pk=user_pk,
                    pillar="sleep_health",
                    data_structure="sleep_summary",
                    source_key="withings:sleep:1",
                    local_date=SLEEP_DAY,
                    document_version=1,
                    fingerprint="f" * 64,
                    body_json=DOCUMENT_BODY,
                    datetime_string=None,
                    occurred_at=None,
                    change_seq=1,
                    created_at=now,
                    updated_at=now,
                )
                await _insert(
                    connection,
                    "document_change_counters",
                    client_id=client_uuid,
                    last_change_seq=1,
                )
            elif revision == "0005_linking":
                token = "notify-" + uuid.uuid4().hex
                await _insert(
                    connection,
                    "deployment_secrets",
                    name=NOTIFY_SECRET_NAME,
                    value_encrypted=cipher.encrypt(token),
                    created_at=now,
                )
                written = dataclasses.replace(written, notify_token=token)
            elif revision == "0006_pipeline":
                await _insert(
                    connection,
                    "withings_notifications",
                    received_at=now,
                    withings_userid=WITHINGS_USERID,
                    appli=1,
                    params={"appli": "1", "userid": str(WITHINGS_USERID)},
                    fetches=0,
                )
                await _insert(
                    connection,
                    "pipeline_sync_states",
                    connection_id=connection_id,
                    timezone="Europe/Paris",
                    heights=[],
                    backfill_status=None,
                    backfill_steps_total=0,
                    backfill_steps_done=0,
                    updated_at=now,
                )
    finally:
        await engine.dispose()
    return written


async def _rows_of_every_table(database_url: str) -> dict[str, list[dict[str, Any]]]:
    """Every row of every table but Alembic's, as stored (raw values), in a stable order."""
    engine = create_engine(database_url)
    try:
        async with engine.connect() as connection:
            tables = await connection.run_sync(lambda sync: inspect(sync).get_table_names())
            rows: dict[str, list[dict[str, Any]]] = {}
            for table in tables:
                if table == "alembic_version":
                    continue
                # The table names come from the database's own catalogue.
                result = await connection.execute(text(f"SELECT * FROM {table}"))  # noqa: S608
                rows[table] = sorted((dict(row) for row in result.mappings()), key=repr)
            return rows
    finally:
        await engine.dispose()


def _as_before(
    after: dict[str, list[dict[str, Any]]], before: dict[str, list[dict[str, Any]]]
) -> dict[str, list[dict[str, Any]]]:
    """The rows of `after` in the tables and columns `before` had (a later revision may add
    columns), less the columns a later revision dropped on purpose."""
    return {
        table: [
            {name: row[name] for name in _kept(table, rows[0] if rows else {})}
            for row in after[table]
        ]
        for table, rows in before.items()
    }


def _without_dropped(
    before: dict[str, list[dict[str, Any]]],
) -> dict[str, list[dict[str, Any]]]:
    """`before`'s rows less the columns a later revision dropped on purpose."""
    return {
        table: [{name: row[name] for name in _kept(table, row)} for row in rows]
        for table, rows in before.items()
    }


def _kept(table: str, columns: Iterable[str]) -> list[str]:
    return [name for name in columns if (table, name) not in DROPPED_COLUMNS]


async def _applied_revisions(database_url: str) -> set[str]:
    engine = create_engine(database_url)
    try:
        async with engine.connect() as connection:
            return set(
                (await connection.scalars(text("SELECT version_num FROM alembic_version"))).all()
            )
    finally:
        await engine.dispose()


async def _use(settings: Settings, revision: str, written: Written) -> None:
    """Rookery works on what was written: the API, the tokens, the queue, the secrets."""
    app = create_app(settings)
    auth = (str(written.client_uuid), written.secret_key)
    async with (
        app.router.lifespan_context(app),
        httpx2.AsyncClient(
            transport=httpx2.ASGITransport(app=app), base_url="http://127.0.0.1:8000", auth=auth
        ) as api,
        open_resources(settings) as resources,
    ):
        sources = await api.get("/api/v1/client/data_sources")
        assert sources.status_code == 200, sources.text
        assert "Withings" in sources.text
        ctx = ConnectionContext.from_resources(resources)
        # Decrypted from what was stored, and still fresh: no Withings call is needed.
        assert await access_token(ctx, written.connection_id) == written.access_token
        documents = await api.get(
            "/api/v1/client/documents",
            params={"user_id": USER_ID, "from_date": "2023-11-01", "to_date": "2023-11-30"},
        )
        assert documents.status_code == 200, documents.text
        deliveries = await api.get("/api/v1/client/deliveries")
        assert deliveries.status_code == 200, deliveries.text
        async with resources.sessions.begin() as session:
            new_job = await queue.enqueue(session, JobKind.WITHINGS_SUBSCRIBE, {"new": True})
        async with resources.sessions.begin() as session:
            claimed = await queue.claim(
                session,
                owner="test",
                kinds=[JobKind.WITHINGS_SUBSCRIBE],
                limit=10,
                lease_s=60,
            )
            if written.notify_token is not None:
                assert await notify_token(session, resources.cipher) == written.notify_token
            notifications = await session.scalar(
                select(func.count()).select_from(WithingsNotification)
            )
    assert {job.id for job in claimed} == {new_job} | (
        set() if written.job_id is None else {written.job_id}
    )
    delivery_ids = {delivery["id"] for delivery in deliveries.json()["deliveries"]}
    assert delivery_ids == (set() if written.delivery_id is None else {str(written.delivery_id)})
    expected_documents = [json.loads(DOCUMENT_BODY)] if revision == "0004_documents" else []
    assert documents.json()["documents"] == expected_documents
    assert notifications == (1 if revision == "0006_pipeline" else 0)


@pytest.mark.parametrize("revision", ["0001", *BRANCH_REVISIONS])
def test_rookery_db_upgrade_keeps_and_serves_the_data_of_an_older_revision(
    settings: Settings, revision: str
) -> None:
    asyncio.run(upgrade(settings.database_url, revision))
    written = asyncio.run(_write_at(settings, revision))
    before = asyncio.run(_rows_of_every_table(settings.database_url))
    assert set(before) < set(Base.metadata.tables)  # an older schema: tables are missing

    result = CliRunner().invoke(app, ["db", "upgrade"], env=process_environ(settings))

    assert result.exit_code == 0, result.output
    assert "database is up to date" in result.output
    heads = set(ScriptDirectory.from_config(alembic_config()).get_heads())
    assert asyncio.run(_applied_revisions(settings.database_url)) == heads
    after = asyncio.run(_rows_of_every_table(settings.database_url))
    assert set(after) == set(Base.metadata.tables)
    # Every row, every value (but those of columns dropped on purpose).
    assert _as_before(after, before) == _without_dropped(before)
    assert {table for table, rows in before.items() if rows} >= BASE_TABLES_WRITTEN
    asyncio.run(_use(settings, revision, written))
