"""Jobs: the durable queue in the database, the worker loop, and one handler per job kind.

Producers: `enqueue(session, kind, payload, ...)` in their own transaction. Owners of job kinds:
a `JobKind` member, a handler `async def handle(ctx: JobContext, job: Job) -> None` that may
raise `Retry(after_s, reason)` or `Park(reason)`, and `register_jobs(registry)` listed in
`rookery.jobs.handlers`. Withings calls: `rookery.jobs.ratelimit.acquire` first.
"""

from rookery.jobs.kinds import JobKind, Priority
from rookery.jobs.queue import Coalesce, enqueue, merge_window
from rookery.jobs.registry import JobContext, LeaseLost, Park, Registry, Retry
from rookery.store.tables import Job

__all__ = [
    "Coalesce",
    "Job",
    "JobContext",
    "JobKind",
    "LeaseLost",
    "Park",
    "Priority",
    "Registry",
    "Retry",
    "enqueue",
    "merge_window",
]
