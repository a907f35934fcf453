"""`rookery sandbox`: run the Withings sandbox on loopback with synthetic users."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Final

import typer

# Exit status when the sandbox cannot start (an unusable --state file): fix and rerun.
START_ERROR_EXIT: Final = 2


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
    state: Annotated[
        Path | None,
        typer.Option(
            help="JSON file of tokens, subscriptions, record edits and the clock: loaded at "
            "start if it exists, saved after each change and at shutdown.",
            dir_okay=False,
        ),
    ] = None,
) -> None:
    """Run a local Withings stand-in: consent page, API, notifications and /_sandbox controls."""
    # Imported here so that other commands start without the server stack.
    import uvicorn

    from rookery.sandbox.server import create_sandbox_app
    from rookery.sandbox.settings import SandboxSettings
    from rookery.sandbox.state import Identity, StateError, StateFile
    from rookery.sandbox.synth import generate_population

    started = time.monotonic()
    now = int(time.time())
    settings = SandboxSettings.from_env(
        clock_speed=speed, start_at_epoch=float(now), rate_limit_per_minute=rate_limit, seed=seed
    )
    state_file = (
        None
        if state is None
        else StateFile(state, Identity(seed, users, history_days, settings.client_id))
    )
    try:
        resume = None if state_file is None else state_file.resume(now)
        # A resumed sandbox regenerates the data of the run that created its state file.
        generated_at = now if resume is None else resume.generated_at
        population = generate_population(
            users,
            seed,
            now_utc=datetime.fromtimestamp(generated_at, UTC),
            history_days=history_days,
        )
        app = create_sandbox_app(settings, population, state=state_file, resume=resume)
    except StateError as error:
        typer.echo(f"rookery sandbox: {error}", err=True)
        raise SystemExit(START_ERROR_EXIT) from None
    base_url = f"http://{host}:{port}"
    typer.echo(f"Withings sandbox at {base_url} (client_id {settings.client_id})")
    if state_file is not None and resume is not None:
        restored = "new" if resume.snapshot is None else "restored"
        typer.echo(f"  state: {state_file.path} ({restored})")
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
