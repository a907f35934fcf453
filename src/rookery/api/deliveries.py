"""Deliveries, as the client sees them: listing by status, one with its attempts, redelivery of
one or of a user's documents over a range of local dates (product.md §3, Rookery's own).

A client only ever sees its own deliveries; another client's id answers 404.

The id segment only matches a UUID (the `uuid` convertor), so `/redeliver` is never read as an
id: a GET there answers 405 (Allow: POST), not a 422 about a malformed id, and any other
non-UUID segment answers 404 (and the OpenAPI document lists no 422 for it:
`rookery.api.openapi`).
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from http import HTTPStatus
from typing import Annotated, Final

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, ConfigDict, Field
from pydantic.config import JsonDict

from rookery.api.deps import ClientDep, SessionDep
from rookery.api.errors import error_responses
from rookery.delivery import queue
from rookery.model.common import DataStructure
from rookery.store.tables import Delivery, DeliveryAttempt, DeliveryKind, DeliveryStatus

router = APIRouter(
    prefix="/api/v1/client/deliveries",
    tags=["deliveries"],
    responses=error_responses(HTTPStatus.UNAUTHORIZED, HTTPStatus.TOO_MANY_REQUESTS),
)


_DELIVERY_EXAMPLE: Final[JsonDict] = {
    "id": "c0c61e9c-1bd3-4f57-a13c-e3353ec1f55d",
    "webhook_id": "msg_c0c61e9c1bd34f57a13ce3353ec1f55d",
    "kind": "data",
    "status": "delivered",
    "user_id": "user-42",
    "event": None,
    "data_structure": "sleep_summary",
    "document_version": 1,
    "local_date": "2026-11-20",
    "attempts": 1,
    "next_attempt_at": None,
    "last_status_code": 204,
    "last_error": None,
    "redelivery_of": None,
    "created_at": "2026-11-20T12:14:03.512000Z",
    "delivered_at": "2026-11-20T12:14:03.601000Z",
    "dead_at": None,
}
_ATTEMPT_EXAMPLE: Final[JsonDict] = {
    "attempt": 1,
    "at_utc": "2026-11-20T12:14:03.601000Z",
    "url": "https://app.example/rook",
    "status_code": 204,
    "latency_ms": 89,
    "error": None,
}


class DeliveryOut(BaseModel):
    """One webhook message and where it stands."""

    model_config = ConfigDict(
        from_attributes=True, json_schema_extra={"examples": [_DELIVERY_EXAMPLE]}
    )

    id: uuid.UUID
    webhook_id: str = Field(description="The `webhook-id` header: stable across retries.")
    kind: DeliveryKind
    status: DeliveryStatus
    user_id: str
    event: str | None = Field(description="The client event, for a notification.")
    data_structure: DataStructure | None
    document_version: int | None
    local_date: date | None
    attempts: int
    next_attempt_at: datetime | None
    last_status_code: int | None
    last_error: str | None
    redelivery_of: uuid.UUID | None = Field(description="The delivery this one repeats.")
    created_at: datetime
    delivered_at: datetime | None
    dead_at: datetime | None


class AttemptOut(BaseModel):
    """One try: when, where, the answer's status (null: no answer), how long, what went wrong."""

    model_config = ConfigDict(
        from_attributes=True, json_schema_extra={"examples": [_ATTEMPT_EXAMPLE]}
    )

    attempt: int
    at_utc: datetime
    url: str | None
    status_code: int | None
    latency_ms: int | None
    error: str | None


class DeliveryDetail(DeliveryOut):
    """A delivery with every try."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{**_DELIVERY_EXAMPLE, "history": [_ATTEMPT_EXAMPLE]}]}
    )

    history: list[AttemptOut]


class DeliveryList(BaseModel):
    """A page of deliveries, newest first; pass `next_cursor` as `cursor` for the next."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"deliveries": [_DELIVERY_EXAMPLE], "next_cursor": None}]}
    )

    deliveries: list[DeliveryOut]
    next_cursor: str | None


class RangeRedelivery(BaseModel):
    """Which documents to send again: a user's, over local dates (inclusive)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"user_id": "user-1", "from_date": "2026-11-01", "to_date": "2026-11-07"}]
        },
    )

    user_id: str
    from_date: date
    to_date: date


class Redelivered(BaseModel):
    """What will be sent."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "deliveries": [
                        {
                            **_DELIVERY_EXAMPLE,
                            "id": "5b1d0a6e-93c4-4f0e-9d8a-2f4c7e1b6a90",
                            "webhook_id": "msg_5b1d0a6e93c44f0e9d8a2f4c7e1b6a90",
                            "status": "pending",
                            "attempts": 0,
                            "last_status_code": None,
                            "redelivery_of": _DELIVERY_EXAMPLE["id"],
                            "delivered_at": None,
                        }
                    ]
                }
            ]
        }
    )

    deliveries: list[DeliveryOut]


DeliveryId = Annotated[
    uuid.UUID,
    Path(description="The delivery's id.", examples=[_DELIVERY_EXAMPLE["id"]]),
]


@router.get(
    "",
    summary="The client's deliveries",
    responses=error_responses(HTTPStatus.UNPROCESSABLE_ENTITY),
)
async def list_deliveries(
    client: ClientDep,
    session: SessionDep,
    status: DeliveryStatus | None = None,
    limit: Annotated[int, Query(ge=1, le=queue.MAX_PAGE_SIZE)] = 50,
    cursor: str | None = None,
) -> DeliveryList:
    """Deliveries newest first, optionally of one status (pending, failed, dead, delivered)."""
    page = await queue.list_deliveries(
        session, client.id, status=status, limit=limit, cursor=cursor
    )
    return DeliveryList(
        deliveries=[_out(delivery) for delivery in page.deliveries], next_cursor=page.next_cursor
    )


@router.post(
    "/redeliver",
    summary="Redeliver a user's documents over a date range",
    status_code=HTTPStatus.ACCEPTED,
    responses=error_responses(
        HTTPStatus.BAD_REQUEST, HTTPStatus.NOT_FOUND, HTTPStatus.UNPROCESSABLE_ENTITY
    ),
)
async def redeliver_range(
    body: RangeRedelivery, client: ClientDep, session: SessionDep
) -> Redelivered:
    """Send again the latest version of each of the user's documents whose local date is in
    the range (at most 366 days). Delivered or dead ones go as new messages (new webhook-id);
    ones still pending or failed are tried now."""
    deliveries = await queue.redeliver_range(
        session, client.id, user_id=body.user_id, from_date=body.from_date, to_date=body.to_date
    )
    await session.commit()
    return Redelivered(deliveries=[_out(delivery) for delivery in deliveries])


@router.get(
    "/{delivery_id:uuid}",
    summary="One delivery with its attempts",
    responses=error_responses(HTTPStatus.NOT_FOUND),
)
async def get_delivery(
    delivery_id: DeliveryId, client: ClientDep, session: SessionDep
) -> DeliveryDetail:
    """The delivery and every try of it."""
    delivery = await queue.get_delivery(session, client.id, delivery_id)
    attempts = await queue.attempts_of(session, delivery.id)
    return DeliveryDetail(**_out(delivery).model_dump(), history=[_attempt(a) for a in attempts])


@router.post(
    "/{delivery_id:uuid}/redeliver",
    summary="Redeliver one delivery",
    status_code=HTTPStatus.ACCEPTED,
    responses=error_responses(HTTPStatus.NOT_FOUND),
)
async def redeliver(delivery_id: DeliveryId, client: ClientDep, session: SessionDep) -> DeliveryOut:
    """Send it again: a delivered or dead one as a new message (new webhook-id, same body),
    a pending or failed one now."""
    delivery = await queue.redeliver(session, client.id, delivery_id)
    await session.commit()
    return _out(delivery)


def _out(delivery: Delivery) -> DeliveryOut:
    return DeliveryOut.model_validate(delivery)


def _attempt(attempt: DeliveryAttempt) -> AttemptOut:
    return AttemptOut.model_validate(attempt)
