"""Values stored in string columns. Stored as strings (not native enums) so that both engines
agree and adding a value needs no migration."""

from __future__ import annotations

from enum import StrEnum


class DataSource(StrEnum):
    """A data source a client can enable; spelled as ROOK spells it on the wire."""

    WITHINGS = "Withings"


class ConnectionState(StrEnum):
    """Where a user's Withings connection stands."""

    LINKED = "linked"
    # Withings refused the tokens (revoked, expired refresh): the user must consent again.
    NEEDS_RELINK = "needs_relink"
    UNLINKED = "unlinked"


class AuditAction(StrEnum):
    """What an audit event records."""

    CLIENT_CREATED = "client.created"
    CLIENT_WEBHOOKS_SET = "client.webhooks_set"
    CLIENT_REDIRECT_URLS_SET = "client.redirect_urls_set"
    DATA_SOURCE_ENABLED = "data_source.enabled"
    DATA_SOURCE_DISABLED = "data_source.disabled"
    USER_CREATED = "user.created"
    KEYS_ROTATED = "keys.rotated"
    CONNECTION_LINKED = "connection.linked"
    CONNECTION_UNLINKED = "connection.unlinked"
    CONNECTION_NEEDS_RELINK = "connection.needs_relink"


class JobStatus(StrEnum):
    """Where a job stands: waiting (or waiting out a retry delay), leased by a worker, finished,
    or parked after too many failures (kept, with its error, until an operator requeues it)."""

    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    PARKED = "parked"
