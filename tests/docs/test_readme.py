"""The README's promises, checked against the code: a curl example for every operation of the
OpenAPI, a webhook-verification snippet that accepts what Rookery signs and refuses a forgery,
and a design note for every runtime dependency."""

from __future__ import annotations

import itertools
import json
import re
import tomllib
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from rookery.app import create_app
from rookery.config import load_settings
from rookery.delivery.signing import webhook_headers

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text(encoding="utf-8")
HTTP_METHODS = ("get", "put", "post", "delete", "patch")


def _expanded(line: str) -> list[str]:
    """A curl line with its URL globs (`{a,b}`, as curl expands them) expanded."""
    parts = re.split(r"(\{[^{}]*,[^{}]*\})", line)
    choices = [part[1:-1].split(",") if part.startswith("{") else [part] for part in parts]
    return ["".join(combination) for combination in itertools.product(*choices)]


CURLS = [
    expanded
    for line in README.splitlines()
    if line.lstrip().startswith("curl ")
    for expanded in _expanded(line)
]
SPEC: dict[str, Any] = create_app(load_settings({})).openapi()
OPERATIONS = [
    (method, path)
    for path, item in SPEC["paths"].items()
    for method in item
    if method in HTTP_METHODS
]


def _method_of(curl: str) -> str:
    match = re.search(r"-X (\w+)", curl)
    return match.group(1).lower() if match else "get"


@pytest.mark.parametrize(("method", "path"), OPERATIONS, ids=[f"{m} {p}" for m, p in OPERATIONS])
def test_every_operation_has_a_curl_example(method: str, path: str) -> None:
    # `{user_id}` in the template stands for any one segment of the example.
    pattern = re.compile(
        r"\$R" + re.sub(r"\\\{[^}]+\\\}", r"[^/\\s?\"]+", re.escape(path)) + r"(?=[\s?\"]|$)"
    )
    assert any(pattern.search(c) and _method_of(c) == method for c in CURLS), (
        f"README: no curl example for {method.upper()} {path}"
    )


def test_the_python_snippet_verifies_a_delivery_and_refuses_a_forgery() -> None:
    pytest.importorskip("standardwebhooks")
    [snippet] = re.findall(r"```python\n(.*?)```", README, re.DOTALL)
    secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    body = json.dumps({"data_structure": "sleep_summary", "user_id": "user-42"}).encode()
    headers = webhook_headers(
        hash_key="hash-key",
        webhook_secret=secret,
        client_uuid="9d2312e5-31f5-45fa-a894-44ce3063c1e4",
        user_id="user-42",
        datetime_string="2026-11-20T07:00:00.000000-05:00",
        webhook_id="msg_2f0c1b",
        sent_at=datetime.now(UTC),
        body=body,
    )
    code = snippet.replace('"whsec_..."', repr(secret))
    assert code != snippet, "the snippet no longer names the secret as whsec_..."
    namespace: dict[str, Any] = {"request_body_bytes": body, "request_headers": headers}
    exec(code, namespace)  # noqa: S102 - the README's own snippet, run as a reader would
    assert namespace["document"] == json.loads(body)
    forged: dict[str, Any] = {"request_body_bytes": body.replace(b"42", b"43")}
    forged["request_headers"] = headers
    with pytest.raises(Exception, match="signature"):
        exec(code, forged)  # noqa: S102


def test_the_design_notes_give_a_reason_for_every_runtime_dependency() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    notes = README.split("## Design notes", 1)[1].split("\n## ", 1)[0].lower()
    for requirement in project["dependencies"]:
        name = re.split(r"[\[<>=]", requirement, maxsplit=1)[0].lower()
        # `sqlalchemy[asyncio]` is SQLAlchemy; `psycopg[binary]` is psycopg 3.
        assert name in notes, f"README's design notes do not say why {name} is a dependency"
