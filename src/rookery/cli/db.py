"""`rookery db`: database maintenance."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:
    from rookery.config import Settings

db_app = typer.Typer(name="db", help="Database maintenance.", no_args_is_help=True)


@db_app.command("upgrade")
def upgrade() -> None:
    """Apply pending migrations to the database of ROOKERY_DATABASE_URL."""
    # Imported here so that other commands start without loading SQLAlchemy and Alembic.
    import anyio

    from rookery.config import load_settings
    from rookery.store.migrate import upgrade as apply_migrations

    settings = load_settings()
    anyio.run(apply_migrations, settings.database_url)
    typer.echo("database is up to date")


@db_app.command("reencrypt")
def reencrypt() -> None:
    """Re-encrypt every stored secret under the first key of ROOKERY_ENCRYPTION_KEYS.

    Key rotation: put a new key first, run this, then drop the old key.
    """
    import anyio

    from rookery.config import load_settings

    settings = load_settings()
    changed = anyio.run(_reencrypt, settings)
    typer.echo(f"re-encrypted {changed} stored values under the first key")


async def _reencrypt(settings: Settings) -> int:
    from rookery.store.audit import record_audit
    from rookery.store.crypto import load_cipher, reencrypt_stored_values
    from rookery.store.engine import create_engine, session_factory
    from rookery.store.enums import AuditAction

    cipher = load_cipher(settings)
    engine = create_engine(settings.database_url)
    try:
        async with session_factory(engine).begin() as session:
            changed = await reencrypt_stored_values(session, cipher)
            await record_audit(
                session, actor="cli", action=AuditAction.KEYS_ROTATED, details={"values": changed}
            )
    finally:
        await engine.dispose()
    return changed
