"""Liveness and readiness: `GET /healthz`."""

from __future__ import annotations

from http import HTTPStatus
from typing import Literal

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from starlette.exceptions import HTTPException

from rookery.api.deps import SessionDep
from rookery.api.errors import error_responses

router = APIRouter(tags=["operations"])


class Health(BaseModel):
    """The server answers and so does its database."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"status": "ok", "database": "ok"}]})

    status: Literal["ok"] = "ok"
    database: Literal["ok"] = "ok"


@router.get(
    "/healthz",
    summary="Health check",
    responses=error_responses(HTTPStatus.SERVICE_UNAVAILABLE),
)
async def healthz(session: SessionDep) -> Health:
    """200 when the server and its database answer; 503 when the database does not."""
    try:
        await session.execute(text("SELECT 1"))
    except DBAPIError:
        raise HTTPException(
            HTTPStatus.SERVICE_UNAVAILABLE, "The database does not answer"
        ) from None
    return Health()
