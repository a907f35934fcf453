"""`rookery sandbox`: run the Withings sandbox on loopback with synthetic users."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Annotated

import typer


def sandbox(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8790,
    users: Annotated[int, typer.Option(min=0, help="How many synthetic users.")] = 10,
    seed: Annotated[int, typer.Option(help="Seed of the synthetic data.")] = 0,
    history_days: Annotated[int, typer.Option(min=0, help="Days of past data per user.")] = 90,
    speed: Annotated[
        float, typer.Option(min=0.0, help="Sandbox seconds per real second (0 = frozen).")
    ] = 1.0,
    rate_limit: Annotated[int, typer.Option(min=1, help="Calls per minute per client_id.")] = 120,
) -> None:
    """Run a local Withings stand-in: consent page, API, notifications and /_sandbox controls."""
    # Imported here so that other commands start without the server stack.
    import uvicorn

    from rookery.sandbox.server import create_sandbox_app
    from rookery.sandbox.settings import SandboxSettings
    from rookery.sandbox.synth import generate_population

    started = time.monotonic()
    now_utc = datetime.now(UTC)
    population = generate_population(users, seed, now_utc=now_utc, history_days=history_days)
    settings = SandboxSettings.from_env(
        clock_speed=speed,
        start_at_epoch=now_utc.timestamp(),
        rate_limit_per_minute=rate_limit,
        seed=seed,
    )
    app = create_sandbox_app(settings, population)
    base_url = f"http://{host}:{port}"
    typer.echo(f"Withings sandbox at {base_url} (client_id {settings.client_id})")
    typer.echo(
        f"  consent page: {base_url}/oauth2_user/authorize2   controls: {base_url}/_sandbox/"
    )
    for user in population.accounts:
        typer.echo(f"  log in as: {user.display_name} (userid {user.userid})")
    typer.echo(
        f"  {len(population.accounts)} users in {time.monotonic() - started:.2f} s "
        f"({history_days} days of history each, generated on first use)"
    )
    uvicorn.run(app, host=host, port=port, log_level="warning", ws="none")
