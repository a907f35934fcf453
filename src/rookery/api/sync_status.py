"""`GET /api/v1/client/users/{user_id}/sync`: where a user's Withings sync stands."""

from __future__ import annotations

from datetime import datetime
from http import HTTPStatus

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from rookery.api.deps import ClientDep, SessionDep
from rookery.api.errors import error_responses
from rookery.pipeline.status import sync_status
from rookery.store.enums import ConnectionState
from rookery.store.tables import BackfillStatus

router = APIRouter(
    prefix="/api/v1/client",
    tags=["client"],
    responses=error_responses(
        HTTPStatus.UNAUTHORIZED, HTTPStatus.NOT_FOUND, HTTPStatus.TOO_MANY_REQUESTS
    ),
)


class Backfill(BaseModel):
    """The history pulled when the user linked Withings."""

    status: BackfillStatus | None = Field(description="null: no backfill has started.")
    steps_done: int
    steps_total: int
    started_at: datetime | None
    finished_at: datetime | None


class SyncStatusBody(BaseModel):
    """A user's Withings sync: connection, backfill progress, latest notification, fetch and
    error."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "user_id": "user-1",
                    "data_source": "Withings",
                    "connection_state": "linked",
                    "timezone": "Europe/Paris",
                    "backfill": {
                        "status": "done",
                        "steps_done": 12,
                        "steps_total": 12,
                        "started_at": "2026-11-20T12:00:03.120000Z",
                        "finished_at": "2026-11-20T12:03:41.870000Z",
                    },
                    "last_notification_at": "2026-11-21T06:52:10.004000Z",
                    "last_fetch_at": "2026-11-21T06:52:11.310000Z",
                    "last_error": None,
                    "last_error_at": None,
                    "pending_fetches": 0,
                }
            ]
        }
    )

    user_id: str
    data_source: str = "Withings"
    connection_state: ConnectionState | None = Field(description="null: never linked.")
    timezone: str | None = Field(description="The user's zone, as Withings names it.")
    backfill: Backfill
    last_notification_at: datetime | None
    last_fetch_at: datetime | None
    last_error: str | None
    last_error_at: datetime | None
    pending_fetches: int = Field(description="Fetches queued or running now.")


@router.get(
    "/users/{user_id}/sync",
    summary="A user's sync status",
    responses=error_responses(HTTPStatus.UNPROCESSABLE_ENTITY),
)
async def get_sync_status(user_id: str, client: ClientDep, session: SessionDep) -> SyncStatusBody:
    """The user's Withings sync status; 404 for a user the client does not have."""
    status = await sync_status(session, client_id=client.id, user_id=user_id)
    return SyncStatusBody(
        user_id=user_id,
        connection_state=status.connection_state,
        timezone=status.timezone,
        backfill=Backfill(
            status=status.backfill_status,
            steps_done=status.backfill_steps_done,
            steps_total=status.backfill_steps_total,
            started_at=status.backfill_started_at,
            finished_at=status.backfill_finished_at,
        ),
        last_notification_at=status.last_notification_at,
        last_fetch_at=status.last_fetch_at,
        last_error=status.last_error,
        last_error_at=status.last_error_at,
        pending_fetches=status.pending_fetches,
    )
