"""The one statement that differs between the engines: INSERT ... ON CONFLICT DO NOTHING."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import ColumnElement, TextClause
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from sqlalchemy.orm import DeclarativeBase


def insert_ignoring_conflict(
    bind: AsyncSession | AsyncConnection,
    table: type[DeclarativeBase],
    values: Mapping[str, Any],
    *,
    index_elements: Sequence[str],
    index_where: ColumnElement[bool] | TextClause | None = None,
) -> postgresql.Insert | sqlite.Insert:
    """An INSERT of `values` into `table` that does nothing when the unique index on
    `index_elements` (partial: `index_where`) already holds them, for `bind`'s engine."""
    dialect = bind.get_bind().dialect.name if isinstance(bind, AsyncSession) else bind.dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    return (
        insert(table)
        .values(dict(values))
        .on_conflict_do_nothing(index_elements=list(index_elements), index_where=index_where)
    )
