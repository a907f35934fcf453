"""How a sandbox is configured: the one Withings app it knows, its limits and its clock."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from rookery.config import DEFAULT_WITHINGS_CLIENT_ID, DEFAULT_WITHINGS_CLIENT_SECRET


@dataclass(frozen=True, slots=True)
class SandboxSettings:
    """Everything `create_sandbox_app` needs besides the data.

    `clock_speed` is sandbox seconds per real second (0 freezes the clock so that only the control
    endpoint moves it). `start_at_epoch` is the sandbox time at start-up (None = the real time).
    """

    client_id: str = DEFAULT_WITHINGS_CLIENT_ID
    client_secret: str = DEFAULT_WITHINGS_CLIENT_SECRET
    rate_limit_per_minute: int = 120
    # Status for a call the token's scopes do not cover: Withings does not document its code, so
    # this uses 214, a documented "unauthorized" code, and says which scope is missing.
    scope_miss_status: int = 214
    getmeas_page_size: int = 1000
    v2_page_size: int = 300
    notify_timeout_s: float = 2.0
    clock_speed: float = 1.0
    start_at_epoch: float | None = None
    seed: int = 0
    call_log_size: int = 200_000

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: object) -> SandboxSettings:
        """Settings with the app credentials from `ROOKERY_WITHINGS_CLIENT_ID`/`_SECRET`."""
        source = os.environ if env is None else env
        values: dict[str, object] = {
            "client_id": source.get("ROOKERY_WITHINGS_CLIENT_ID") or DEFAULT_WITHINGS_CLIENT_ID,
            "client_secret": source.get("ROOKERY_WITHINGS_CLIENT_SECRET")
            or DEFAULT_WITHINGS_CLIENT_SECRET,
        }
        values.update(overrides)
        return cls(**values)  # type: ignore[arg-type]
