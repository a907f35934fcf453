"""`rookery client`: manage the apps that use Rookery."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from rookery.config import Settings
    from rookery.store.clients import NewClient

client_app = typer.Typer(name="client", help="Manage clients.", no_args_is_help=True)


@client_app.command("create")
def create(
    name: Annotated[str, typer.Option("--name", help="The client's display name.")],
    webhook_url: Annotated[
        str | None, typer.Option("--webhook-url", help="Data webhook URL.")
    ] = None,
    notification_webhook_url: Annotated[
        str | None,
        typer.Option("--notification-webhook-url", help="Notification webhook URL."),
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print one JSON object (for scripts).")
    ] = False,
) -> None:
    """Create a client and print its credentials. The secrets are shown only this once."""
    # Imported here so that other commands start without loading the storage stack.
    import anyio

    from rookery.config import load_settings
    from rookery.errors import InvalidInputError

    settings = load_settings()
    try:
        created = anyio.run(_create, settings, name, webhook_url, notification_webhook_url)
    except InvalidInputError as error:
        raise typer.BadParameter(str(error)) from None
    fields = {
        "client_uuid": str(created.client_uuid),
        "secret_key": created.secret_key,
        "hash_key": created.hash_key,
        "webhook_secret": created.webhook_secret,
    }
    if as_json:
        typer.echo(json.dumps(fields))
        return
    for key, value in fields.items():
        typer.echo(f"{key}: {value}")
    typer.echo("Store these now: the secrets are not shown again.", err=True)


async def _create(
    settings: Settings,
    name: str,
    webhook_url: str | None,
    notification_webhook_url: str | None,
) -> NewClient:
    from rookery.delivery.ssrf import WebhookPolicy, check_webhook_url
    from rookery.store.clients import create_client
    from rookery.store.crypto import load_cipher
    from rookery.store.engine import create_engine, session_factory
    from rookery.store.migrate import upgrade

    policy = WebhookPolicy.from_settings(settings)
    for url in (webhook_url, notification_webhook_url):
        if url is not None:
            await check_webhook_url(url, policy)
    cipher = load_cipher(settings)
    engine = create_engine(settings.database_url)
    try:
        await upgrade(engine)
        async with session_factory(engine).begin() as session:
            return await create_client(
                session,
                cipher,
                name=name,
                data_webhook_url=webhook_url,
                notification_webhook_url=notification_webhook_url,
            )
    finally:
        await engine.dispose()
