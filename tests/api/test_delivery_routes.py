"""The deliveries routes do not overlap: `/redeliver` (a user's documents over a date range) is
never taken for a delivery id, so a wrong method there is a 405 naming POST, not a 422 about a
malformed id; a segment that is no UUID is simply not a delivery."""

from __future__ import annotations

import uuid

import httpx2
import pytest
from fastapi import FastAPI
from pydantic import BaseModel

from rookery.api.deliveries import DeliveryDetail, DeliveryList, DeliveryOut, Redelivered
from tests.conftest import ClientFactory

pytestmark = pytest.mark.anyio

BASE = "/api/v1/client/deliveries"


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
async def test_redeliver_with_another_method_is_405_naming_post(
    api: httpx2.AsyncClient, new_client: ClientFactory, method: str
) -> None:
    client = await new_client()
    answer = await api.request(
        method, f"{BASE}/redeliver", auth=(str(client.client_uuid), client.secret_key)
    )
    assert answer.status_code == 405, answer.text
    assert answer.headers["allow"] == "POST"
    assert answer.json()["path"] == f"{BASE}/redeliver"


async def test_the_range_redelivery_is_reached_by_post(
    api: httpx2.AsyncClient, new_client: ClientFactory
) -> None:
    client = await new_client()
    answer = await api.post(
        f"{BASE}/redeliver",
        json={"user_id": "user-1", "from_date": "2026-11-07", "to_date": "2026-11-01"},
        auth=(str(client.client_uuid), client.secret_key),
    )
    # The range handler answered (about the reversed range), not the one-delivery handler.
    assert answer.status_code == 422, answer.text
    assert answer.json()["exception"] == "from_date must not be after to_date"


@pytest.mark.parametrize(
    ("method", "suffix"),
    [("GET", "not-a-delivery"), ("POST", "not-a-delivery/redeliver")],
)
async def test_a_segment_that_is_no_uuid_is_not_found(
    api: httpx2.AsyncClient, new_client: ClientFactory, method: str, suffix: str
) -> None:
    client = await new_client()
    answer = await api.request(
        method, f"{BASE}/{suffix}", auth=(str(client.client_uuid), client.secret_key)
    )
    assert answer.status_code == 404, answer.text


async def test_an_unknown_delivery_id_is_not_found(
    api: httpx2.AsyncClient, new_client: ClientFactory
) -> None:
    client = await new_client()
    credentials = (str(client.client_uuid), client.secret_key)
    for method, path in (
        ("GET", f"{BASE}/{uuid.uuid4()}"),
        ("POST", f"{BASE}/{uuid.uuid4()}/redeliver"),
    ):
        answer = await api.request(method, path, auth=credentials)
        assert answer.status_code == 404, (method, path, answer.text)


def test_the_openapi_keeps_the_plain_path_templates(app: FastAPI) -> None:
    api_spec_paths = set(app.openapi()["paths"])
    assert f"{BASE}/{{delivery_id}}" in api_spec_paths
    assert f"{BASE}/{{delivery_id}}/redeliver" in api_spec_paths
    assert not any(":uuid" in path for path in api_spec_paths)


@pytest.mark.parametrize(
    "model", [DeliveryOut, DeliveryDetail, DeliveryList, Redelivered], ids=lambda m: m.__name__
)
def test_the_documented_answer_examples_are_valid_answers(model: type[BaseModel]) -> None:
    examples = model.model_json_schema()["examples"]
    assert examples
    for example in examples:
        model.model_validate(example)


def test_every_deliveries_answer_is_documented_with_an_example(app: FastAPI) -> None:
    spec = app.openapi()
    schemas = spec["components"]["schemas"]
    operations = [
        operation
        for path, item in spec["paths"].items()
        if path.startswith(BASE)
        for operation in item.values()
    ]
    assert len(operations) == 4
    for operation in operations:
        [success] = [code for code in operation["responses"] if code.startswith("2")]
        schema = operation["responses"][success]["content"]["application/json"]["schema"]
        assert schemas[schema["$ref"].rsplit("/", 1)[-1]]["examples"], operation["summary"]
