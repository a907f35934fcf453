"""Request dependencies: every one runs on the event loop."""

from __future__ import annotations

import inspect
from collections.abc import Sequence

from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from starlette.routing import BaseRoute


def test_no_route_or_dependency_runs_in_a_worker_thread(app: FastAPI) -> None:
    # FastAPI runs a plain function in its thread pool: a hand-over per request that costs more
    # than any of these lookups (and showed in profiles of the notification path).
    def sync_calls(dependant: Dependant) -> list[str]:
        found = (
            [] if dependant.call is None or _is_async(dependant.call) else [repr(dependant.call)]
        )
        for sub in dependant.dependencies:
            found += sync_calls(sub)
        return found

    offending = [
        f"{route.path}: {call}"
        for route in _api_routes(app.routes)
        for call in sync_calls(route.dependant)
    ]
    assert len(_api_routes(app.routes)) > 20  # the walk reaches the included routers' routes
    assert offending == []


def _is_async(call: object) -> bool:
    # A dependency is a function or an instance whose `__call__` is the function.
    target = call if inspect.isfunction(call) else type(call).__call__
    return inspect.iscoroutinefunction(target) or inspect.isasyncgenfunction(target)


def _api_routes(routes: Sequence[BaseRoute]) -> list[APIRoute]:
    found: list[APIRoute] = []
    for route in routes:
        if isinstance(route, APIRoute):
            found.append(route)
        # FastAPI keeps an included router behind a wrapper that names the original.
        included = getattr(route, "original_router", None)
        if included is not None:
            found += _api_routes(included.routes)
    return found
