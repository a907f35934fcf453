"""The app over real HTTP on loopback, as uvicorn serves it (the `live_server` fixture)."""

from __future__ import annotations

import httpx2


def test_the_app_answers_over_real_http(live_server: str) -> None:
    response = httpx2.get(f"{live_server}/healthz")
    assert (response.status_code, response.json()) == (200, {"status": "ok", "database": "ok"})
    refused = httpx2.get(f"{live_server}/api/v1/client/data_sources")
    assert refused.status_code == 401
    assert refused.json()["exception"] == "The client_uuid or password are incorrect"
