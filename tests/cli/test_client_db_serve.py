"""`rookery client create`, `rookery db upgrade` and `rookery serve`, as an operator runs them."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx2
import pytest
from sqlalchemy import text
from typer.testing import CliRunner

from rookery.cli import app
from rookery.store.crypto import TokenCipher, generate_key
from rookery.store.engine import create_engine

runner = CliRunner()


def _environ(tmp_path: Path, **extra: str) -> dict[str, str]:
    return {
        "ROOKERY_DATABASE_URL": f"sqlite:///{tmp_path / 'rookery.db'}",
        "ROOKERY_PUBLIC_URL": "http://127.0.0.1:8000",
        **extra,
    }


async def _client_rows(database_url: str) -> list[dict[str, object]]:
    engine = create_engine(database_url)
    async with engine.connect() as connection:
        rows = (await connection.execute(text("SELECT * FROM clients"))).mappings().all()
    await engine.dispose()
    return [dict(row) for row in rows]


def test_client_create_json_prints_exactly_the_four_keys_once(tmp_path: Path) -> None:
    environ = _environ(tmp_path)
    result = runner.invoke(
        app,
        ["client", "create", "--name", "Acme", "--webhook-url", "http://127.0.0.1:9/d", "--json"],
        env=environ,
    )
    assert result.exit_code == 0, result.output
    created = json.loads(result.stdout)
    assert set(created) == {"client_uuid", "secret_key", "hash_key", "webhook_secret"}
    uuid.UUID(created["client_uuid"])
    assert created["webhook_secret"].startswith("whsec_")
    assert len(base64.b64decode(created["webhook_secret"].removeprefix("whsec_"))) == 32

    # The database (created and migrated by the command) holds no secret in clear.
    rows = asyncio.run(_client_rows(environ["ROOKERY_DATABASE_URL"]))
    assert len(rows) == 1
    stored = " ".join(str(value) for value in rows[0].values())
    for key in ("secret_key", "hash_key", "webhook_secret"):
        assert created[key] not in stored
    assert rows[0]["data_webhook_url"] == "http://127.0.0.1:9/d"
    # The generated encryption key sits next to the database, readable by its owner only.
    assert (tmp_path / "encryption.keys").stat().st_mode & 0o077 == 0


def test_client_create_prints_labelled_lines_for_people(tmp_path: Path) -> None:
    result = runner.invoke(app, ["client", "create", "--name", "Acme"], env=_environ(tmp_path))
    assert result.exit_code == 0, result.output
    labels = [line.split(":", 1)[0] for line in result.stdout.splitlines()]
    assert labels == ["client_uuid", "secret_key", "hash_key", "webhook_secret"]
    assert "not shown again" in result.stderr


@pytest.mark.parametrize(
    ("option", "url"),
    [("--webhook-url", "http://10.0.0.1/hook"), ("--notification-webhook-url", "ftp://x/y")],
)
def test_client_create_refuses_a_webhook_url_and_creates_nothing(
    tmp_path: Path, option: str, url: str
) -> None:
    result = runner.invoke(
        app, ["client", "create", "--name", "Acme", option, url], env=_environ(tmp_path)
    )
    assert result.exit_code == 2
    assert "webhook URL" in result.output
    assert not (tmp_path / "rookery.db").exists()


def test_client_create_refuses_an_empty_name(tmp_path: Path) -> None:
    result = runner.invoke(app, ["client", "create", "--name", " "], env=_environ(tmp_path))
    assert result.exit_code == 2
    assert "client name" in result.output


def test_db_upgrade_creates_and_migrates_the_database(tmp_path: Path) -> None:
    environ = _environ(tmp_path, ROOKERY_DATABASE_URL=f"sqlite:///{tmp_path / 'new' / 'r.db'}")
    for _ in range(2):
        result = runner.invoke(app, ["db", "upgrade"], env=environ)
        assert result.exit_code == 0, result.output
    assert asyncio.run(_client_rows(environ["ROOKERY_DATABASE_URL"])) == []


def _run_rookery(args: list[str], environ: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", "from rookery.cli import main; main()", *args],
        env={**os.environ, **environ},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize(
    ("args", "environ", "variable"),
    [
        (["db", "upgrade"], {"ROOKERY_DATABASE_URL": "mysql://db/x"}, "ROOKERY_DATABASE_URL"),
        (
            ["client", "create", "--name", "Acme"],
            {"ROOKERY_BACKFILL_DAYS": "many"},
            "ROOKERY_BACKFILL_DAYS",
        ),
        (["serve"], {"ROOKERY_DATABASE_URL": "postgresql://db/x"}, "ROOKERY_ENCRYPTION_KEYS"),
    ],
)
def test_bad_configuration_is_one_line_on_stderr_and_exit_2(
    tmp_path: Path, args: list[str], environ: dict[str, str], variable: str
) -> None:
    result = _run_rookery(args, {**_environ(tmp_path), **environ})
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1
    assert result.stderr.startswith(f"rookery: {variable}: ")
    assert "Traceback" not in result.stderr


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def test_serve_migrates_then_answers(tmp_path: Path) -> None:
    port = _free_port()
    environ = {**os.environ, **_environ(tmp_path, ROOKERY_ENCRYPTION_KEYS=generate_key())}
    server = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from rookery.cli import main; main()",
            "serve",
            "--port",
            str(port),
        ],
        env=environ,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                response = httpx2.get(f"http://127.0.0.1:{port}/healthz")
                break
            except httpx2.TransportError:
                assert server.poll() is None, server.stderr.read() if server.stderr else ""
                assert time.monotonic() < deadline, "rookery serve did not answer within 30 s"
                time.sleep(0.1)
        assert response.json() == {"status": "ok", "database": "ok"}
    finally:
        server.terminate()
        server.wait(timeout=10)
        if server.stderr is not None:
            server.stderr.close()


def test_db_reencrypt_moves_secrets_to_the_new_first_key(tmp_path: Path) -> None:
    old_key, new_key = generate_key(), generate_key()
    environ = _environ(tmp_path, ROOKERY_ENCRYPTION_KEYS=old_key)
    created = json.loads(
        runner.invoke(app, ["client", "create", "--name", "Acme", "--json"], env=environ).stdout
    )
    rotated = runner.invoke(
        app, ["db", "reencrypt"], env={**environ, "ROOKERY_ENCRYPTION_KEYS": f"{new_key},{old_key}"}
    )
    assert rotated.exit_code == 0, rotated.output
    assert "re-encrypted 2 stored values" in rotated.stdout

    (row,) = asyncio.run(_client_rows(environ["ROOKERY_DATABASE_URL"]))
    only_new = TokenCipher([new_key])
    assert only_new.decrypt(str(row["hash_key_encrypted"])) == created["hash_key"]
    assert only_new.decrypt(str(row["webhook_secret_encrypted"])) == created["webhook_secret"]
