"""Schemathesis against the running server's own OpenAPI: every operation, with the client's
valid credentials and with none, data that fits the schema and data that does not. No answer may
be a 5xx, carry a status the operation does not document, or break its documented schema.

The server runs on loopback on the database of a deployment that holds real data (a user linked
through OAuth, backfilled and delivered), and some generated requests name that client, that user,
one of its deliveries and the notification token, so that the answers with data are checked too.

A short run in the normal suite (a few hundred requests); `ROOKERY_SOAK=1` runs the full one
(thousands). Each prints how many requests it made.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import hypothesis
import pytest
import requests
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, Phase, given
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Ok
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from sqlalchemy.ext.asyncio import AsyncSession

from rookery.api.throttle import FailureThrottle, Limit
from rookery.app import create_app
from rookery.config import Settings
from rookery.connections.deployment import notify_token
from rookery.sandbox.synth import generate_population
from rookery.store.crypto import load_cipher
from tests.pipeline.harness import Deployment, deployment, new_user_id, now_utc
from tests.sandbox.servers import serve

pytestmark = pytest.mark.timeout(1800)

SOAK = os.environ.get("ROOKERY_SOAK") == "1"
# Per operation and per credential set (with, without): 2 × 31 operations × this.
EXAMPLES_PER_OPERATION = 100 if SOAK else 6
ADMIN_TOKEN = "operator-token-for-the-fuzz-0123456789"
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    response_schema_conformance,
    content_type_conformance,
]


@dataclass(frozen=True, slots=True)
class Known:
    """Real values of the deployment, for requests that reach its data."""

    client_uuid: str
    user_id: str
    delivery_id: str
    notify_token: str


@dataclass
class Counter:
    requests: int = 0


@pytest.fixture
def stack(make_settings: Callable[..., Settings], database_url: str) -> Iterator[Deployment]:
    """A deployment holding a linked, backfilled user with delivered documents."""
    population = generate_population(1, 31, now_utc=now_utc(), history_days=5)
    with deployment(
        make_settings, database_url, population, backfill_days=2, admin_token=ADMIN_TOKEN
    ) as running:
        yield running


def test_fuzzing_the_openapi_finds_no_server_error_and_no_answer_off_its_schema(
    stack: Deployment, capsys: pytest.CaptureFixture[str]
) -> None:
    user_id = new_user_id()
    stack.link(user_id, stack.population.accounts[0].userid)
    stack.wait_backfill(user_id)
    stack.settle()
    deliveries = stack.http.get(f"{stack.rookery_url}/api/v1/client/deliveries", auth=stack.auth)
    known = Known(
        client_uuid=str(stack.client.client_uuid),
        user_id=user_id,
        delivery_id=deliveries.json()["deliveries"][0]["id"],
        notify_token=stack.query(_notify_token(stack.settings)),
    )
    counter = Counter()
    with serve(_fuzzed_app(stack.settings)) as base_url:
        schema = schemathesis.openapi.from_url(f"{base_url}/openapi.json")
        operations = []
        for result in schema.get_all_operations():
            assert isinstance(result, Ok), result  # the server's own OpenAPI loads whole
            operations.append(result.ok())
        for authenticated in (True, False):
            headers = _basic(*stack.auth) if authenticated else {}
            with requests.Session() as session:
                for operation in operations:
                    _fuzz(operation, base_url, session, headers, known, counter)

    with capsys.disabled():
        print(f"\nschemathesis: {counter.requests} requests over {len(operations)} operations")
    assert len(operations) >= 30
    # Hypothesis may stop early on an operation with few distinct inputs; never on most.
    assert counter.requests >= len(operations) * EXAMPLES_PER_OPERATION


def _fuzzed_app(settings: Settings) -> FastAPI:
    """Another server on the deployment's database, whose lockout never starts: the fuzzer
    sends wrong credentials by the hundred, and the lockout has its own tests."""
    app = create_app(settings)
    unlimited = Limit(max_failures=10**9, window_s=1.0, lockout_s=1.0)
    app.state.throttle = FailureThrottle(source_limit=unlimited, credential_limit=unlimited)
    return app


def _fuzz(
    operation: Any,
    base_url: str,
    session: requests.Session,
    headers: dict[str, str],
    known: Known,
    counter: Counter,
) -> None:
    names = {parameter.name for parameter in operation.iter_parameters()}
    path = {
        name: value
        for name, value in (
            ("client_uuid", known.client_uuid),
            ("user_id", known.user_id),
            ("delivery_id", known.delivery_id),
        )
        if "{" + name + "}" in operation.path
    }
    query = {"user_id": known.user_id} if "user_id" in names and not path else {}
    if operation.path == "/withings/notify":
        query = {"token": known.notify_token}
    strategies = [
        operation.as_strategy(),
        operation.as_strategy(schemathesis.GenerationMode.NEGATIVE),
    ]
    if path or query:
        strategies.append(operation.as_strategy(path_parameters=path or None, query=query or None))

    @hypothesis.settings(
        max_examples=EXAMPLES_PER_OPERATION,
        deadline=None,
        database=None,
        phases=[Phase.explicit, Phase.generate, Phase.shrink],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=st.one_of(strategies))
    def run(case: Any) -> None:
        counter.requests += 1
        # Credentials as a header rather than on the session, so that the request carries
        # exactly what this run means to send.
        response = case.call(base_url=base_url, session=session, headers=headers, timeout=30)
        case.validate_response(response, checks=CHECKS)

    run()


def _basic(username: str, password: str) -> dict[str, str]:
    credentials = base64.b64encode(f"{username}:{password}".encode()).decode()
    return {"Authorization": f"Basic {credentials}"}


def _notify_token(settings: Settings) -> Callable[[AsyncSession], Any]:
    async def read(session: AsyncSession) -> str:
        return await notify_token(session, load_cipher(settings))

    return read
