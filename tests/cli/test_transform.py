"""`rookery transform`: each captured response prints valid JSON lines; each kind of bad input
prints one line on stderr, nothing on stdout, and exits 2."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from rookery.cli import app
from rookery.transform.context import UserContext
from rookery.transform.dispatch import transform_response
from rookery.transform.time import zone
from rookery.withings.responses import Endpoint
from tests.support.rook_schema import validate_document
from tests.transform.support import FIXTURES, fixture_body

runner = CliRunner()
ENVELOPED = [
    ("activity.json", Endpoint.GETACTIVITY),
    ("measurement.json", Endpoint.GETMEAS),
    ("sleep.json", Endpoint.SLEEP_GET),
    ("sleep_no_datafields.json", Endpoint.SLEEP_GET),
    ("sleep_summary.json", Endpoint.SLEEP_GETSUMMARY),
    ("sleep_summary_no_datafields.json", Endpoint.SLEEP_GETSUMMARY),
    ("workouts.json", Endpoint.GETWORKOUTS),
]
BARE_GROUPS = ["measurement_list.json", "measurement_list_2.json", "measurement_positions.json"]


def invoke(file: Path | str, endpoint: str, *extra: str, user_id: str = "user-42") -> Result:
    return runner.invoke(
        app,
        [
            "transform",
            "--endpoint",
            endpoint,
            "--client-uuid",
            "client-1",
            "--user-id",
            user_id,
            *extra,
            str(file),
        ],
    )


def lines_of(stdout: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in stdout.splitlines()]


@pytest.mark.parametrize(("name", "endpoint"), ENVELOPED)
def test_each_fixture_prints_valid_documents(name: str, endpoint: Endpoint) -> None:
    result = invoke(FIXTURES / name, endpoint.value, "--timezone", "Europe/Paris")
    assert result.exit_code == 0, result.stderr
    assert result.stderr == ""
    documents = lines_of(result.stdout)
    expected = transform_response(
        endpoint,
        fixture_body(name),
        UserContext(client_uuid="client-1", user_id="user-42", timezone=zone("Europe/Paris")),
    )
    assert len(documents) == len(expected) > 0
    for document in documents:
        validate_document(document)
        assert document["document_version"] == 1
        assert document["client_uuid"] == "client-1"


@pytest.mark.parametrize("name", BARE_GROUPS)
def test_bare_measure_group_lists_wrapped_as_getmeas(name: str, tmp_path: Path) -> None:
    wrapped = tmp_path / name
    wrapped.write_text(json.dumps({"status": 0, "body": fixture_body(name)}))
    result = invoke(wrapped, "measure/getmeas")
    assert result.exit_code == 0, result.stderr
    for document in lines_of(result.stdout):
        validate_document(document)


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "response.json"
    path.write_text(text, encoding="utf-8")
    return path


BAD_FILES = {
    "not JSON": ('{"status": 0, "body": {', "not JSON"),
    "NaN is not JSON": ('{"status": 0, "body": {"series": [], "x": NaN}}', "NaN"),
    "array envelope": ("[1, 2]", "not an object"),
    "no status": ('{"body": {}}', "status"),
    "non-zero status": ('{"status": 401, "body": {}, "error": "invalid_token"}', "status 401"),
    "wrong shape": ('{"status": 0, "body": {"series": [{"id": "x"}]}}', "body.series[0]"),
    "body not an object": ('{"status": 0, "body": "nope"}', "body"),
    "unknown zone in a record": (
        json.dumps(
            {
                "status": 0,
                "body": {
                    "series": [
                        {
                            "id": 1,
                            "category": 1,
                            "timezone": "Mars/Olympus",
                            "startdate": 1,
                            "enddate": 2,
                            "data": {},
                        }
                    ]
                },
            }
        ),
        "Mars/Olympus",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_FILES))
def test_bad_file_gives_one_line_and_exit_2(case: str, tmp_path: Path) -> None:
    text, needle = BAD_FILES[case]
    result = invoke(write(tmp_path, text), "v2/measure/getworkouts")
    assert result.exit_code == 2
    assert result.stdout == ""
    assert len(result.stderr.splitlines()) == 1
    assert needle in result.stderr
    assert "Traceback" not in result.stderr


def test_missing_file(tmp_path: Path) -> None:
    result = invoke(tmp_path / "absent.json", "v2/sleep/get")
    assert (result.exit_code, result.stdout) == (2, "")
    assert result.stderr.splitlines() == [
        f"rookery transform: {tmp_path / 'absent.json'}: no such file"
    ]


def test_a_directory_is_not_a_file(tmp_path: Path) -> None:
    result = invoke(tmp_path, "v2/sleep/get")
    assert (result.exit_code, result.stdout, len(result.stderr.splitlines())) == (2, "", 1)


def test_unknown_endpoint() -> None:
    result = invoke(FIXTURES / "workouts.json", "v2/user/getdevice")
    assert (result.exit_code, result.stdout) == (2, "")
    assert result.stderr.startswith("rookery transform: unknown endpoint 'v2/user/getdevice'")
    assert len(result.stderr.splitlines()) == 1


@pytest.mark.parametrize("user_id", ["has space", "", "x" * 51, "ünïcode"])
def test_bad_user_id(user_id: str) -> None:
    result = invoke(FIXTURES / "workouts.json", "v2/measure/getworkouts", user_id=user_id)
    assert (result.exit_code, result.stdout) == (2, "")
    assert "bad user id" in result.stderr
    assert len(result.stderr.splitlines()) == 1


def test_unknown_user_timezone() -> None:
    result = invoke(FIXTURES / "sleep.json", "v2/sleep/get", "--timezone", "Nowhere/Land")
    assert (result.exit_code, result.stdout) == (2, "")
    assert "Nowhere/Land" in result.stderr


def test_the_endpoint_must_match_the_file() -> None:
    result = invoke(FIXTURES / "sleep_summary.json", "v2/measure/getworkouts")
    assert (result.exit_code, result.stdout) == (2, "")
    assert len(result.stderr.splitlines()) == 1


def test_the_installed_script_over_a_subprocess(tmp_path: Path) -> None:
    script = Path(sys.executable).with_name("rookery")
    ok = subprocess.run(
        [
            str(script),
            "transform",
            "--endpoint",
            "v2/measure/getworkouts",
            "--client-uuid",
            "c",
            "--user-id",
            "u1",
            str(FIXTURES / "workouts.json"),
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert ok.returncode == 0, ok.stderr
    assert len(ok.stdout.splitlines()) == 10
    bad = subprocess.run(
        [
            str(script),
            "transform",
            "--endpoint",
            "v2/measure/getworkouts",
            "--client-uuid",
            "c",
            "--user-id",
            "u1",
            str(write(tmp_path, "{")),
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert (bad.returncode, bad.stdout, len(bad.stderr.splitlines())) == (2, "", 1)
