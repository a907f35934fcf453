"""The log renderer: structured lines, and no secret ever rendered."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import pytest
import structlog

from rookery.logs import REDACTED, configure_logging, redact_text
from tests.support.logs import logging_restored


def _lines(capsys: pytest.CaptureFixture[str]) -> list[dict[str, object]]:
    return [json.loads(line) for line in capsys.readouterr().err.splitlines() if line]


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    with logging_restored():
        yield


def test_stdlib_extra_fields_become_keys(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging(json=True)
    logging.getLogger("rookery.test").warning("job.done", extra={"job_id": 7, "kind": "fetch"})
    [line] = _lines(capsys)
    assert line["event"] == "job.done"
    assert line["job_id"] == 7
    assert line["kind"] == "fetch"
    assert line["level"] == "warning"


def test_secret_keys_and_url_parameters_are_redacted(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging(json=True)
    log = logging.getLogger("rookery.test")
    log.info(
        "callback https://x.test/withings/notify?token=s3cret&appli=1",
        extra={"access_token": "a1b2", "url": "https://x.test/cb?code=c0de&state=st4te", "n": 1},
    )
    structlog.get_logger("rookery.test").info("refreshed", refresh_token="r3fresh", user="u1")
    first, second = _lines(capsys)
    rendered = json.dumps([first, second])
    for secret in ("s3cret", "a1b2", "c0de", "st4te", "r3fresh"):
        assert secret not in rendered
    assert first["access_token"] == REDACTED
    assert first["n"] == 1
    assert second["user"] == "u1"


def test_libraries_log_only_warnings(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging(json=True)
    logging.getLogger("alembic.runtime.plugins").info("setup plugin")
    logging.getLogger("alembic.runtime.plugins").warning("something odd")
    assert [line["event"] for line in _lines(capsys)] == ["something odd"]


def test_redact_text_keeps_other_parameters() -> None:
    assert redact_text("a?token=x&appli=4") == f"a?token={REDACTED}&appli=4"


def test_uvicorn_access_lines_are_redacted_and_a_status_code_is_kept(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # As uvicorn's default configuration leaves its access logger: its own handler, no
    # propagation, which would print the line unredacted.
    access = logging.getLogger("uvicorn.access")
    access.addHandler(logging.StreamHandler())
    access.propagate = False
    configure_logging(json=True)
    access.info('%s - "%s %s HTTP/1.1" %d', "127.0.0.1:5", "POST", "/withings/notify?token=s3", 200)
    logging.getLogger("rookery.test").info("sent", extra={"status_code": 204})
    access_line, sent = _lines(capsys)
    assert (
        access_line["event"]
        == '127.0.0.1:5 - "POST /withings/notify?token=[redacted] HTTP/1.1" 200'
    )
    assert sent["status_code"] == 204
