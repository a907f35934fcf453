"""Data for the document, query API and replay tests: a linked user, Withings response bodies
shaped like the captured ones, and documents of every structure with one event each."""

from __future__ import annotations

import copy
import json
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, Final, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from rookery.model.common import EventDocument, RookDocument
from rookery.model.identity import DocumentIdentity
from rookery.store.enums import ConnectionState
from rookery.store.tables import WithingsConnection
from rookery.store.users import get_or_create_user
from rookery.transform.context import Produced, UserContext
from rookery.transform.dispatch import transform_response
from rookery.transform.time import zone
from rookery.withings.responses import Endpoint
from tests.model.filled import USER_ID, filled_document_data
from tests.withings.captured import load_captured

__all__ = ["USER_ID"]

PARIS: Final = "Europe/Paris"
E = TypeVar("E", bound=EventDocument[Any])


@dataclass(frozen=True, slots=True)
class Linked:
    """A client's user with a Withings connection."""

    client_id: uuid.UUID
    user_pk: uuid.UUID
    user_id: str
    connection_id: uuid.UUID

    def context(self, timezone: str = PARIS) -> UserContext:
        return UserContext(
            client_uuid=str(self.client_id), user_id=self.user_id, timezone=zone(timezone)
        )


async def link_user(
    sessions: async_sessionmaker[AsyncSession], client_id: uuid.UUID, user_id: str = USER_ID
) -> Linked:
    """Create the client's user and a linked Withings connection for it."""
    async with sessions.begin() as session:
        user, _ = await get_or_create_user(session, client_id, user_id)
        connection = WithingsConnection(
            user_pk=user.id,
            withings_userid=user.id.int % 10**9,
            state=ConnectionState.LINKED,
            linked_at=datetime.now(UTC),
        )
        session.add(connection)
        await session.flush()
        return Linked(client_id, user.id, user_id, connection.id)


def sleep_night(
    night_id: int, *, day: str, total_sleep_s: int, deep_s: int, light_s: int, rem_s: int
) -> dict[str, Any]:
    """One getsummary row like the captured one, for night `night_id` dated `day`."""
    row: dict[str, Any] = copy.deepcopy(load_captured("sleep_summary.json")["body"]["series"][0])
    start = int(datetime.fromisoformat(f"{day}T00:00:00+02:00").timestamp()) - 2 * 3600
    row.update(id=night_id, date=day, startdate=start, enddate=start + total_sleep_s + 1800)
    row["data"].update(
        total_sleep_time=total_sleep_s,
        deepsleepduration=deep_s,
        lightsleepduration=light_s,
        remsleepduration=rem_s,
    )
    return row


def getsummary_body(*rows: dict[str, Any], more: bool = False, offset: int = 0) -> dict[str, Any]:
    return {"series": list(rows), "more": more, "offset": offset}


def weigh_in(grpid: int, at_epoch_s: int, weight_g: int) -> dict[str, Any]:
    """One getmeas group: a device weigh-in of `weight_g` grams."""
    return {
        "grpid": grpid,
        "attrib": 0,
        "date": at_epoch_s,
        "created": at_epoch_s,
        "modified": at_epoch_s,
        "category": 1,
        "deviceid": "f998be4b9ccc9e136fd8cd8e8e344c31ec3b271d",
        "hash_deviceid": "f998be4b9ccc9e136fd8cd8e8e344c31ec3b271d",
        "measures": [{"value": weight_g, "type": 1, "unit": -3, "algo": 3, "fm": 3}],
        "modelid": 5,
        "model": "Body+",
        "comment": None,
    }


def getmeas_body(*groups: dict[str, Any], more: bool = False, offset: int = 0) -> dict[str, Any]:
    return {
        "updatetime": 1700000000,
        "timezone": PARIS,
        "measuregrps": list(groups),
        "more": int(more),
        "offset": offset,
    }


def envelope(body: dict[str, Any]) -> str:
    """The response text Withings sends for a successful call."""
    return json.dumps({"status": 0, "body": body})


def transformed(endpoint: Endpoint, body: dict[str, Any], linked: Linked) -> list[Produced]:
    return transform_response(endpoint, body, linked.context())


def single_event_documents(
    document_type: type[E], client_uuid: str, datetimes: list[str]
) -> list[E]:
    """Documents of `document_type` holding one filled event each, at `datetimes`."""
    filled = document_type.model_validate(
        {**filled_document_data(document_type), "client_uuid": client_uuid}
    )
    event = filled.events[0]
    return [
        document_type.of(
            event.model_copy(
                update={"metadata": event.metadata.model_copy(update={"datetime_string": at})}
            ),
            client_uuid=client_uuid,
            user_id=filled.user_id,
        )
        for at in datetimes
    ]


def filled(document_type: type[RookDocument], client_uuid: str) -> RookDocument:
    """A document of `document_type` with every leaf filled, for `client_uuid` and USER_ID."""
    return document_type.model_validate(
        {**filled_document_data(document_type), "client_uuid": client_uuid}
    )


def produced(document: RookDocument, source_key: str, local_date: date) -> Produced:
    return Produced(DocumentIdentity.of(document, source_key), local_date, document)
