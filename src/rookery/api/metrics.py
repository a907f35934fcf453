"""`GET /metrics`: the process's counters in Prometheus' text format (`rookery.metrics`).

Operator data (how many users notify, how Withings and the clients' webhooks behave), so not
public: with `ROOKERY_ADMIN_TOKEN` set, a scrape must send `Authorization: Bearer <token>`
(compared in constant time; 401 otherwise). Without it, only loopback peers are answered (a
Prometheus or an operator on the same machine) and every other peer gets 401 — behind a reverse
proxy on the same machine every request looks local, so such a deployment must set the token.

The counts are those of the serving process; see `rookery.metrics` for processes started apart
(`rookery worker`).
"""

from __future__ import annotations

import hmac
import ipaddress
from http import HTTPStatus

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.exceptions import HTTPException

from rookery.api.deps import MetricsDep, SettingsDep, ThrottleDep, peer_address
from rookery.api.errors import error_responses
from rookery.api.throttle import OPERATOR_CREDENTIAL
from rookery.config import Settings
from rookery.metrics import Metrics

router = APIRouter(tags=["operations"])

_BEARER = "bearer "
_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="rookery-metrics"'}


def _example() -> str:
    """What a fresh process that has taken one notification answers: every family, one sample."""
    counted = Metrics()
    counted.record_notification("1", "fetch_queued")
    return generate_latest(counted.registry).decode()


@router.get(
    "/metrics",
    summary="Prometheus metrics",
    response_class=Response,
    responses={
        HTTPStatus.OK: {
            "content": {CONTENT_TYPE_LATEST: {"example": _example()}},
            "description": "The metrics.",
        },
        **error_responses(HTTPStatus.UNAUTHORIZED, HTTPStatus.TOO_MANY_REQUESTS),
    },
)
async def metrics(
    request: Request, settings: SettingsDep, counted: MetricsDep, throttle: ThrottleDep
) -> Response:
    """The process's metrics; 401 without the admin token (or, when none is configured, for a
    peer that is not on loopback); 429 for a while after repeated wrong tokens."""
    source = peer_address(request)
    if settings.admin_token is not None and (
        refusal := throttle.refusal(source, OPERATOR_CREDENTIAL)
    ):
        raise refusal
    if not _allowed(request, settings):
        if settings.admin_token is not None:
            throttle.record_failure(source, OPERATOR_CREDENTIAL)
        raise HTTPException(
            HTTPStatus.UNAUTHORIZED,
            "GET /metrics needs the admin token (Authorization: Bearer)",
            headers=_CHALLENGE,
        )
    return Response(generate_latest(counted.registry), media_type=CONTENT_TYPE_LATEST)


def _allowed(request: Request, settings: Settings) -> bool:
    if settings.admin_token is None:
        return _is_loopback(request.client.host if request.client is not None else None)
    header = request.headers.get("authorization", "")
    if not header.lower().startswith(_BEARER):
        return False
    presented = header[len(_BEARER) :].strip().encode()
    return hmac.compare_digest(presented, settings.admin_token.get_secret_value().encode())


def _is_loopback(host: str | None) -> bool:
    if host is None:
        return False
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
