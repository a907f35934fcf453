"""Client events and the notification-webhook message that carries them (product.md §4)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from rookery.model.common import format_datetime


class ClientEvent(StrEnum):
    """What the notification webhook tells a client about (the message's `action`)."""

    USER_CREATED = "user_created"
    DATA_SOURCE_LINKED = "data_source_linked"
    DATA_SOURCE_UNLINKED = "data_source_unlinked"
    EXTRACTION_FAILED = "extraction_failed"
    # A data webhook delivery went dead: the client's endpoint did not accept a document.
    DELIVERY_REJECTED = "delivery_rejected"


class EventLevel(StrEnum):
    """How much a client event matters (the message's `level`)."""

    INFO = "info"
    WARNING = "warning"
    ERROR = "error"


@dataclass(frozen=True, slots=True)
class ClientEventMessage:
    """One notification-webhook message. Its X-ROOK-HASH signs `client_uuid + user_id +
    datetime`, where `datetime` is the message's own."""

    client_uuid: str
    user_id: str
    data_source: str
    action: ClientEvent
    level: EventLevel
    message: str
    at: datetime

    @property
    def datetime_string(self) -> str:
        """`at` as ROOK writes datetimes (raises ValueError if naive)."""
        return format_datetime(self.at)

    def body(self) -> bytes:
        """The exact JSON bytes sent: `{client_uuid, user_id, data_source, action, level,
        message, datetime}`."""
        content = {
            "client_uuid": self.client_uuid,
            "user_id": self.user_id,
            "data_source": self.data_source,
            "action": self.action.value,
            "level": self.level.value,
            "message": self.message,
            "datetime": self.datetime_string,
        }
        return json.dumps(content, separators=(",", ":"), ensure_ascii=False).encode()
