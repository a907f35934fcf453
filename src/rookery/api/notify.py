"""`/withings/notify?token=SECRET`: where Withings posts its notifications.

Withings signs nothing, so the unguessable token in the callback URL (the linking package's
deployment secret) is the check. A POST is stored with the fetches it asks for in one
transaction and answered at once; the fetching runs in the workers. HEAD and GET answer 200:
Withings probes the URL that way when subscribing.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Annotated, Final

from fastapi import APIRouter, Query, Request, Response
from starlette.exceptions import HTTPException

from rookery.api.deps import CipherDep, MetricsDep, SessionDep, ThrottleDep, peer_address
from rookery.api.errors import error_responses
from rookery.connections.deployment import NOTIFY_PATH, notify_token_matches
from rookery.errors import UnauthenticatedError
from rookery.pipeline.notifications import (
    MAX_BODY_BYTES,
    MAX_EPOCH_S,
    MAX_USERID,
    MIN_EPOCH_S,
    Recorded,
    parse_notification,
    record_notification,
)
from rookery.store.tables import utc_now

router = APIRouter(tags=["withings"])

_EPOCH_SCHEMA: Final = {
    "type": "integer",
    "minimum": MIN_EPOCH_S,
    "maximum": MAX_EPOCH_S,
    "description": "Epoch seconds.",
}
TokenQuery = Annotated[str | None, Query(description="The deployment's notification token.")]


# HEAD answers like GET; it stays out of the OpenAPI so that the two share no operation id.
@router.head(NOTIFY_PATH, include_in_schema=False)
@router.get(
    NOTIFY_PATH,
    summary="Withings callback probe",
    response_class=Response,
    responses={HTTPStatus.OK.value: {"description": "The callback URL answers (empty body)."}},
)
async def probe() -> Response:
    """200: Withings checks that the callback URL answers before it subscribes it."""
    return Response(status_code=HTTPStatus.OK)


@router.post(
    NOTIFY_PATH,
    summary="Withings notification",
    response_class=Response,
    responses={
        HTTPStatus.OK.value: {"description": "Stored and queued, or not ours (empty body)."},
        **error_responses(
            HTTPStatus.UNAUTHORIZED,
            HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
            HTTPStatus.UNPROCESSABLE_ENTITY,
            HTTPStatus.TOO_MANY_REQUESTS,
        ),
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/x-www-form-urlencoded": {
                    "schema": {
                        "type": "object",
                        "required": ["userid", "appli"],
                        "properties": {
                            "userid": {
                                "type": "integer",
                                "minimum": 1,
                                "maximum": MAX_USERID,
                                "description": "Withings user id.",
                            },
                            "appli": {
                                "type": "integer",
                                "minimum": 0,
                                "maximum": MAX_USERID,
                                "description": "Category (appli).",
                            },
                            "startdate": _EPOCH_SCHEMA,
                            "enddate": {
                                **_EPOCH_SCHEMA,
                                "description": "Epoch seconds, not before startdate.",
                            },
                            "date": {
                                "type": "string",
                                "pattern": r"^(\d{4}-\d{2}-\d{2}|\d{9,10})$",
                                "description": "YYYY-MM-DD (appli 16), or epoch seconds.",
                            },
                            "action": {"type": "string", "description": "appli 46 only."},
                        },
                    },
                    "example": {
                        "userid": 12345678,
                        "appli": 1,
                        "startdate": 1699941600,
                        "enddate": 1699941601,
                    },
                }
            },
        }
    },
)
async def notify(
    request: Request,
    session: SessionDep,
    cipher: CipherDep,
    metrics: MetricsDep,
    throttle: ThrottleDep,
    token: TokenQuery = None,
) -> Response:
    """Store a Withings notification (form-encoded) and queue its fetch; 200 once committed.

    An account no linked user has is answered 200 with nothing stored (Withings stops
    retrying); a wrong token 401, and 429 for a while after repeated wrong tokens from one
    address; a body that is not a notification 413 or 422.
    """
    source = peer_address(request)
    if (refusal := throttle.refusal(source)) is not None:
        raise refusal
    body = await _bounded_body(request)
    async with session.begin():
        if token is None or not await notify_token_matches(session, cipher, token):
            throttle.record_failure(source)
            raise UnauthenticatedError("the notification token is missing or wrong")
        notification = parse_notification(body)
        recorded = await record_notification(session, notification, now=utc_now())
    metrics.record_notification(str(notification.appli_code), _outcome(recorded))
    return Response(status_code=HTTPStatus.OK)


def _outcome(recorded: Recorded) -> str:
    """What a stored notification led to, for `rookery_withings_notifications_total`."""
    if not recorded.known:
        return "unknown_account"
    if recorded.unlinked:
        return "unlinked"
    return "fetch_queued" if recorded.fetches else "nothing_to_fetch"


async def _bounded_body(request: Request) -> bytes:
    """The request body, refused (413) past `MAX_BODY_BYTES` without reading the rest."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise _body_too_large()
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise _body_too_large()
        chunks.append(chunk)
    return b"".join(chunks)


def _body_too_large() -> HTTPException:
    return HTTPException(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "the notification body is too large")
