"""Rookery's own document reads (beyond ROOK): a user's documents over a date range, and the
client's changes feed. Both page with opaque cursors and answer with the stored documents as
delivered (single-event documents for events), assembled without re-serialising them."""

from __future__ import annotations

import json
from datetime import date
from http import HTTPStatus
from typing import Annotated, Any, Final

from fastapi import APIRouter, Query, Response

from rookery.api.deps import ClientDep, SessionDep
from rookery.api.errors import error_responses
from rookery.errors import InvalidInputError
from rookery.model.common import DataStructure, Pillar
from rookery.store.documents import MAX_PAGE_SIZE, DocumentPage, changes_since, documents_in_range

DEFAULT_PAGE_SIZE: Final = 100
_DATE_PATTERN: Final = r"^\d{4}-\d{2}-\d{2}$"

router = APIRouter(
    prefix="/api/v1/client",
    tags=["client documents"],
    responses=error_responses(
        HTTPStatus.UNAUTHORIZED, HTTPStatus.UNPROCESSABLE_ENTITY, HTTPStatus.TOO_MANY_REQUESTS
    ),
)

_EXAMPLE_DOCUMENT: Final = {
    "version": 2,
    "data_structure": "sleep_summary",
    "client_uuid": "8b1c7e0e-3f0a-4c55-9a51-7f3f1d1c2b6a",
    "user_id": "user-1",
    "document_version": 2,
    "sleep_health": {"summary": {"sleep_summary": {"metadata": {"...": "..."}}}},
}


def _page_schema(description: str, example: dict[str, Any]) -> dict[int | str, dict[str, Any]]:
    return {
        HTTPStatus.OK.value: {
            "description": description,
            "content": {
                "application/json": {
                    "schema": {
                        "type": "object",
                        "required": ["documents", "next_cursor", "has_more"],
                        "properties": {
                            "documents": {
                                "type": "array",
                                "items": {"type": "object"},
                                "description": "ROOK documents as delivered (latest versions).",
                            },
                            "next_cursor": {"type": "string", "nullable": True},
                            "has_more": {"type": "boolean"},
                        },
                    },
                    "example": example,
                }
            },
        }
    }


Cursor = Annotated[
    str | None,
    Query(description="`next_cursor` of the previous page; omit for the first page."),
]
Limit = Annotated[
    int, Query(ge=1, le=MAX_PAGE_SIZE, description=f"Page size, 1 to {MAX_PAGE_SIZE}.")
]


@router.get(
    "/documents",
    summary="A user's documents over a date range",
    response_class=Response,
    responses=_page_schema(
        "The documents whose local date is in the range, by date; `next_cursor` is null on the "
        "last page.",
        {
            "documents": [_EXAMPLE_DOCUMENT],
            "next_cursor": "cjE6MjAyMy0xMS0xNDo0Mg",
            "has_more": True,
        },
    ),
)
async def list_documents(
    client: ClientDep,
    session: SessionDep,
    user_id: Annotated[str, Query(pattern=r"^[a-zA-Z0-9\-]{1,50}$", examples=["user-1"])],
    from_date: Annotated[str, Query(pattern=_DATE_PATTERN, examples=["2023-11-01"])],
    to_date: Annotated[str, Query(pattern=_DATE_PATTERN, examples=["2023-11-30"])],
    data_structure: DataStructure | None = None,
    pillar: Pillar | None = None,
    cursor: Cursor = None,
    limit: Limit = DEFAULT_PAGE_SIZE,
) -> Response:
    """The user's latest documents with a local date in [from_date, to_date] (inclusive),
    optionally of one structure or pillar. A user the client does not have has no documents."""
    page = await documents_in_range(
        session,
        client_id=client.id,
        user_id=user_id,
        from_date=_date(from_date, "from_date"),
        to_date=_date(to_date, "to_date"),
        pillar=pillar,
        data_structure=data_structure,
        cursor=cursor,
        limit=limit,
    )
    return _page_response(page)


@router.get(
    "/changes",
    summary="The client's changes feed",
    response_class=Response,
    responses=_page_schema(
        "Documents changed since the cursor, oldest change first, each at its latest version. "
        "Keep `next_cursor` and poll with it for later changes.",
        {"documents": [_EXAMPLE_DOCUMENT], "next_cursor": "YzE6MTcz", "has_more": False},
    ),
)
async def list_changes(
    client: ClientDep, session: SessionDep, cursor: Cursor = None, limit: Limit = DEFAULT_PAGE_SIZE
) -> Response:
    """Every new document version of the client's users since `cursor` (from the beginning
    without one). A document changed again later appears once, at its newer place."""
    return _page_response(
        await changes_since(session, client_id=client.id, cursor=cursor, limit=limit)
    )


def _date(text: str, name: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise InvalidInputError(f"{name} is not a calendar date") from None


def _page_response(page: DocumentPage) -> Response:
    # The stored documents are JSON already; they are spliced in as they are.
    body = (
        '{"documents":['
        + ",".join(page.bodies)
        + '],"next_cursor":'
        + json.dumps(page.next_cursor)
        + ',"has_more":'
        + json.dumps(page.has_more)
        + "}"
    )
    return Response(body, media_type="application/json")
