"""Token refreshes in a process of their own, for the tests that need several or kill one
(run with `python -m`).

    python -m tests.connections.token_process refresh CONNECTION_ID NOW_EPOCH_S COUNT
        opens Rookery's resources, prints "ready", waits for a line on stdin, then asks for
        COUNT access tokens of the connection at once and prints them as a JSON list, last. A
        request that is deferred (`Retry`) asks again once its wait is over, as a worker runs a
        deferred job again.
    python -m tests.connections.token_process crash CONNECTION_ID NOW_EPOCH_S
        asks for an access token and SIGKILLs itself as soon as Withings' answer to the refresh
        has been read, before Rookery can store it.

Both read the database, keys and Withings URL from the ROOKERY_ environment, as `rookery` does;
NOW_EPOCH_S is the (frozen) sandbox clock that tokens are judged by.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import uuid
from datetime import UTC, datetime

from rookery.app import open_resources
from rookery.config import load_settings
from rookery.connections.context import ConnectionContext
from rookery.connections.tokens import access_token
from rookery.jobs.registry import Retry
from rookery.withings.client import Exchange


async def _refresh(connection_id: uuid.UUID, now: datetime, count: int) -> None:
    async with open_resources(load_settings()) as resources:
        ctx = ConnectionContext.from_resources(resources, clock=lambda: now)
        print("ready", flush=True)
        await asyncio.to_thread(sys.stdin.readline)
        tokens = await asyncio.gather(*(_token_as_a_job(ctx, connection_id) for _ in range(count)))
        print(json.dumps(tokens), flush=True)


async def _token_as_a_job(ctx: ConnectionContext, connection_id: uuid.UUID) -> str:
    while True:
        try:
            return await access_token(ctx, connection_id)
        except Retry as deferred:
            await asyncio.sleep(deferred.after_s)


async def _die_once_refreshed(exchange: Exchange) -> None:
    # Called once the response body has been read, before it is parsed, let alone committed.
    if exchange.action == "requesttoken" and exchange.params.get("grant_type") == "refresh_token":
        os.kill(os.getpid(), signal.SIGKILL)


async def _crash(connection_id: uuid.UUID, now: datetime) -> None:
    async with open_resources(load_settings()) as resources:
        ctx = ConnectionContext.from_resources(
            resources, recorder=_die_once_refreshed, clock=lambda: now
        )
        await access_token(ctx, connection_id)
    raise SystemExit("the refresh answered and the process is still alive")


def main(argv: list[str]) -> None:
    """Run the entry point named by `argv[0]`."""
    connection_id = uuid.UUID(argv[1])
    now = datetime.fromtimestamp(float(argv[2]), UTC)
    if argv[0] == "refresh":
        asyncio.run(_refresh(connection_id, now, int(argv[3])))
    elif argv[0] == "crash":
        asyncio.run(_crash(connection_id, now))
    else:
        raise SystemExit(f"unknown entry point {argv[0]!r}")


if __name__ == "__main__":
    main(sys.argv[1:])
