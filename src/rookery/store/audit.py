"""The audit trail: who did what, when."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from rookery.store.enums import AuditAction
from rookery.store.tables import AuditEvent


def client_actor(client_id: uuid.UUID) -> str:
    """The actor name of a client acting through the API."""
    return f"client:{client_id}"


async def record_audit(
    session: AsyncSession,
    *,
    actor: str,
    action: AuditAction,
    client_id: uuid.UUID | None = None,
    subject: str | None = None,
    details: dict[str, Any] | None = None,
) -> None:
    """Add an audit event to the session's transaction. Never pass a secret in `details`."""
    session.add(
        AuditEvent(
            actor=actor,
            action=action.value,
            client_id=client_id,
            subject=subject,
            details=details or {},
        )
    )
