"""The job kinds and priorities: declared once here; each package that owns a kind adds it."""

from __future__ import annotations

from enum import IntEnum, StrEnum


class JobKind(StrEnum):
    """What a job does; the worker runs the handler registered for its kind."""

    # Delete finished jobs past their retention (`rookery.jobs.maintenance`).
    PRUNE_JOBS = "jobs.prune"
    # Subscribe a newly linked connection to the notifications of its scopes
    # (`rookery.connections.jobs`); payload {"connection_id"}.
    WITHINGS_SUBSCRIBE = "withings.subscribe"
    # Revoke a Withings grant (and so its subscriptions) after an unlink; payload
    # {"withings_userid"}.
    WITHINGS_REVOKE = "withings.revoke"
    # Fetch one data domain of a connection for a window and store/deliver what it yields
    # (`rookery.pipeline.fetch`); payload {"connection_id", "domain", "start", "end", ...}.
    PIPELINE_FETCH = "pipeline.fetch"
    # Start a linked connection's history pull (`rookery.pipeline.backfill`); payload
    # {"connection_id"}. Enqueued by the linking hook.
    PIPELINE_BACKFILL = "pipeline.backfill"
    # Deliver a user's physical and body summaries of a local day once it has ended
    # (`rookery.pipeline.days`); payload {"connection_id", "local_date"}.
    PIPELINE_CLOSE_DAY = "pipeline.close_day"
    # The daily safety net of one connection: re-subscribe what is missing, pull what changed
    # since its cursors (`rookery.pipeline.check`); payload {"connection_id"}.
    PIPELINE_CHECK = "pipeline.check"


class Priority(IntEnum):
    """Which jobs go first when work (or the Withings rate limit) is scarce: higher first.

    Backfill takes Withings calls only while a reserve is left for notifications
    (`rookery.jobs.ratelimit`).
    """

    BACKFILL = 0
    NORMAL = 50
    NOTIFICATION = 100
