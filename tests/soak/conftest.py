"""Fixtures of the soak tests: the database engines each length runs on."""

from __future__ import annotations

import pytest

from tests.soak.common import FULL

# The short versions run in `make test` on SQLite alone (it keeps the suite's time down; the
# PostgreSQL paths are exercised there by the pipeline tests); the full ones on both engines.
_ENGINES = [
    pytest.param("sqlite_url", id="sqlite"),
    *([pytest.param("postgres_url", id="postgresql", marks=pytest.mark.postgres)] if FULL else []),
]


@pytest.fixture(params=_ENGINES)
def soak_database_url(request: pytest.FixtureRequest) -> str:
    """The test's own empty database: SQLite, and PostgreSQL too in the full version."""
    url: str = request.getfixturevalue(request.param)
    return url
