"""ROOK's query API: `GET /v2/processed_data/...?user_id=&date=YYYY-MM-DD` for every structure.

The routes are generated from `rookery.model.structures.STRUCTURES`. A summary answers with its
stored latest version, byte for byte as delivered (one indexed lookup, nothing re-serialised);
an events structure answers with ONE document holding that local day's events in time order,
each at its latest version. 204 with an empty body when there is nothing, including for a user
the client does not have (a client never learns about other clients' users).

ROOK's OpenAPI declares only 200 and 204 for these paths, and a missing body as 400 elsewhere:
a missing or malformed `user_id` or `date` is a bad request here, 400 with ROOK's error body.

Each route's documented example answer is a committed file of `examples/`, a document the real
transforms made from a captured Withings response (`tests/api/rook_examples.py` writes them; its
test checks them against the models and ROOK's schemas).
"""

from __future__ import annotations

import json
import re
from datetime import date
from http import HTTPStatus
from pathlib import Path
from typing import Any, Final

from fastapi import APIRouter, HTTPException, Request, Response

from rookery.api.deps import ClientDep, SessionDep
from rookery.api.errors import error_responses
from rookery.errors import InvalidInputError
from rookery.model.common import EventDocument
from rookery.model.structures import STRUCTURES, StructureSpec
from rookery.store.documents import day_bodies
from rookery.store.users import check_user_id

JSON: Final = "application/json"
_DATE: Final = re.compile(r"\d{4}-\d{2}-\d{2}")
DATE_MESSAGE: Final = "date must be a calendar date written YYYY-MM-DD"
EXAMPLES_DIR: Final = Path(__file__).resolve().parent / "examples"

# ROOK's parameters (`parameter_query_user_id`, `parameter_query_date`), documented as ROOK does.
# The handler reads them itself so that a bad one is ROOK's 400, not a generic 422.
QUERY_PARAMETERS: Final[list[dict[str, Any]]] = [
    {
        "name": "user_id",
        "in": "query",
        "required": True,
        "description": "The client's id of the user: 1 to 50 letters, digits or hyphens.",
        "schema": {"type": "string", "pattern": r"^[a-zA-Z0-9\-]{1,50}$"},
        "example": "user-1",
    },
    {
        "name": "date",
        "in": "query",
        "required": True,
        "description": "The user's local calendar date, YYYY-MM-DD.",
        "schema": {"type": "string", "format": "date"},
        "example": "2023-11-14",
    },
]


def build_router() -> APIRouter:
    """A router with one GET per structure Rookery delivers."""
    router = APIRouter(tags=["ROOK processed data"])
    for spec in STRUCTURES:
        _add_route(router, spec)
    return router


def example_file_name(spec: StructureSpec) -> str:
    """The name, in `EXAMPLES_DIR`, of the example answer of `spec`'s route."""
    return f"{spec.pillar.value}.{spec.data_structure.value}.json"


def _example(spec: StructureSpec) -> Any:
    return json.loads((EXAMPLES_DIR / example_file_name(spec)).read_text(encoding="utf-8"))


def _add_route(router: APIRouter, spec: StructureSpec) -> None:
    document_type = spec.document_type
    events_type = document_type if issubclass(document_type, EventDocument) else None

    async def read(request: Request, client: ClientDep, session: SessionDep) -> Response:
        user_id, local_date = _user_and_date(request)
        bodies = await day_bodies(
            session,
            client_id=client.id,
            user_id=user_id,
            pillar=spec.pillar,
            data_structure=spec.data_structure,
            local_date=local_date,
        )
        if not bodies:
            return Response(status_code=HTTPStatus.NO_CONTENT)
        if events_type is None or len(bodies) == 1:
            return Response(bodies[-1], media_type=JSON)
        merged = events_type.merge([events_type.model_validate_json(body) for body in bodies])
        return Response(merged.model_dump_json(), media_type=JSON)

    what = "that day's events in one document" if events_type else "the latest version"
    router.add_api_route(
        spec.api_path,
        read,
        methods=["GET"],
        name=f"processed_data_{spec.pillar}_{spec.data_structure}",
        operation_id=f"get_{spec.pillar}_{spec.data_structure}",
        summary=f"{spec.data_structure} of a user's local date ({spec.pillar})",
        description=(
            f"ROOK's `{spec.schema_name}` for `user_id` on `date`: {what}. "
            "204 with an empty body when there is none."
        ),
        response_model=document_type,
        responses={
            HTTPStatus.OK.value: {
                "description": f"ROOK's `{spec.schema_name}`: {what}.",
                "content": {JSON: {"example": _example(spec)}},
            },
            HTTPStatus.NO_CONTENT.value: {"description": "No document for that user and date."},
            **error_responses(
                HTTPStatus.BAD_REQUEST, HTTPStatus.UNAUTHORIZED, HTTPStatus.TOO_MANY_REQUESTS
            ),
        },
        openapi_extra={"parameters": QUERY_PARAMETERS},
    )


def _user_and_date(request: Request) -> tuple[str, date]:
    """`user_id` and `date` of the query; HTTP 400 when either is missing or malformed."""
    query = request.query_params
    user_id, day = query.get("user_id"), query.get("date")
    if user_id is None:
        raise HTTPException(HTTPStatus.BAD_REQUEST, "user_id is required")
    try:
        check_user_id(user_id)
    except InvalidInputError as error:
        raise HTTPException(HTTPStatus.BAD_REQUEST, str(error)) from None
    if day is None:
        raise HTTPException(HTTPStatus.BAD_REQUEST, "date is required (YYYY-MM-DD)")
    if _DATE.fullmatch(day) is None:
        raise HTTPException(HTTPStatus.BAD_REQUEST, DATE_MESSAGE)
    try:
        return user_id, date.fromisoformat(day)
    except ValueError:
        raise HTTPException(HTTPStatus.BAD_REQUEST, DATE_MESSAGE) from None
