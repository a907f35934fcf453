"""Every job handler and periodic task of Rookery, gathered in one place.

Each package that owns job kinds exposes `register_jobs(registry: Registry) -> None`; add one
line here for it. The worker calls `all_handlers()` when it starts.
"""

from __future__ import annotations

from rookery.connections import jobs as connection_jobs
from rookery.jobs import maintenance
from rookery.jobs.registry import Registry
from rookery.pipeline import jobs as pipeline_jobs


def all_handlers() -> Registry:
    """A registry holding every handler and periodic task of the deployment."""
    registry = Registry()
    maintenance.register_jobs(registry)
    connection_jobs.register_jobs(registry)
    pipeline_jobs.register_jobs(registry)
    return registry
