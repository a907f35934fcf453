"""`rookery transform`: each captured response prints valid JSON lines; each kind of bad input
prints one line on stderr, nothing on stdout, and exits 2."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner, Result

from rookery.cli import app
from rookery.cli.transform import TransformInputError, render
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
    "empty file": ("", "not JSON"),
    "nested deeper than the decoder goes": ("[" * 100_000, "nested too deep"),
    "body without its records": ('{"status": 0, "body": {"more": false}}', "body.series"),
    "another endpoint's body": ('{"status": 0, "body": {"measuregrps": []}}', "body.series"),
    "an instant past year 9999": (
        json.dumps(
            {
                "status": 0,
                "body": {
                    "series": [
                        {
                            "id": 1,
                            "category": 1,
                            "timezone": "UTC",
                            "startdate": 10**20,
                            "enddate": 10**20 + 1,
                            "data": {},
                        }
                    ]
                },
            }
        ),
        "out of range",
    ),
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


@pytest.mark.parametrize("endpoint", list(Endpoint))
@pytest.mark.parametrize(
    "text", ['{"status": 0}', '{"status": 0, "body": {}}', '{"status": 0, "body": []}']
)
def test_an_empty_body_is_a_window_without_records(
    endpoint: Endpoint, text: str, tmp_path: Path
) -> None:
    result = invoke(write(tmp_path, text), endpoint.value)
    assert (result.exit_code, result.stdout, result.stderr) == (0, "", "")


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


# A response of each endpoint: the captured ones, and made-up ones for the two endpoints no
# capture covers (the shapes of research §3).
HEART_LIST = {
    "status": 0,
    "body": {
        "series": [
            {
                "deviceid": "c405eb8e0e053f6601e151c7e43c04e29aad6956",
                "model": 44,
                "ecg": {"signalid": 48213, "afib": 0},
                "bloodpressure": {"diastole": 79, "systole": 121},
                "heart_rate": 66,
                "timestamp": 1699945200,
                "modified": 1699945300,
            }
        ],
        "more": False,
        "offset": 0,
    },
}
INTRADAY = {
    "status": 0,
    "body": {
        "series": {
            "1699941600": {"deviceid": "9b3f", "model": "ScanWatch", "model_id": 93, "steps": 42},
            "1699941660": {
                "deviceid": "9b3f",
                "model": "ScanWatch",
                "model_id": 93,
                "heart_rate": 91,
            },
        }
    },
}
MADE_UP = {Endpoint.HEART_LIST: HEART_LIST, Endpoint.GETINTRADAYACTIVITY: INTRADAY}
ONE_OF_EACH = {endpoint: name for name, endpoint in ENVELOPED}


def response_of(endpoint: Endpoint, tmp_path: Path) -> Path:
    if endpoint in MADE_UP:
        return write(tmp_path, json.dumps(MADE_UP[endpoint]))
    return FIXTURES / ONE_OF_EACH[endpoint]


@pytest.mark.parametrize("endpoint", sorted(MADE_UP))
def test_the_uncaptured_endpoints_print_valid_documents(endpoint: Endpoint, tmp_path: Path) -> None:
    result = invoke(response_of(endpoint, tmp_path), endpoint.value, "--timezone", "Europe/Paris")
    assert result.exit_code == 0, result.stderr
    documents = lines_of(result.stdout)
    assert len(documents) == 1
    for document in documents:
        validate_document(document)
        assert document["document_version"] == 1


@pytest.mark.parametrize("given", list(Endpoint))
@pytest.mark.parametrize("file_of", list(Endpoint))
def test_the_endpoint_must_match_the_file(
    given: Endpoint, file_of: Endpoint, tmp_path: Path
) -> None:
    result = invoke(response_of(file_of, tmp_path), given.value)
    if given is file_of:
        assert result.exit_code == 0, result.stderr
        assert result.stdout != ""
        return
    assert (result.exit_code, result.stdout) == (2, "")
    assert len(result.stderr.splitlines()) == 1
    assert f"Withings {given.value}: body." in result.stderr


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


def leaf_paths(node: object, path: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
    """Every path to a value in decoded JSON, containers included."""
    paths: list[tuple[object, ...]] = [path]
    if isinstance(node, dict):
        for key, value in node.items():
            paths += leaf_paths(value, (*path, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            paths += leaf_paths(value, (*path, index))
    return paths


def small_response(endpoint: Endpoint) -> dict[str, Any]:
    """A response of `endpoint` with at most three records, to keep each example quick."""
    if endpoint in MADE_UP:
        return copy.deepcopy(MADE_UP[endpoint])
    response: dict[str, Any] = json.loads((FIXTURES / ONE_OF_EACH[endpoint]).read_text())
    for key in ("measuregrps", "activities", "series"):
        if isinstance(response["body"].get(key), list):
            response["body"][key] = response["body"][key][:3]
    return response


ODD_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=False),
    st.text(max_size=12),
    st.sampled_from(["2023-02-30", "Mars/Olympus", "1e999", "", "-1"]),
    st.just([]),
    st.just({}),
    st.just({"1700000000": "x"}),
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(list(Endpoint)), st.data())
def test_any_value_anywhere_gives_documents_or_one_clear_line(
    endpoint: Endpoint, data: st.DataObject
) -> None:
    response = small_response(endpoint)
    path = data.draw(st.sampled_from(leaf_paths(response)[1:]))
    parent: Any = response
    for part in path[:-1]:
        parent = parent[part]
    parent[path[-1]] = data.draw(ODD_VALUES)
    with tempfile.TemporaryDirectory() as folder:
        file = Path(folder) / "response.json"
        file.write_text(json.dumps(response))
        try:
            lines = render(
                file, endpoint=endpoint.value, client_uuid="c", user_id="u1", timezone="UTC"
            )
        except TransformInputError as error:
            message = str(error)
        else:
            message = ""
    # Anything else escaping `render` would be a traceback on the user's terminal.
    assert "\n" not in message
    if not message:
        for line in lines:
            validate_document(json.loads(line))
