"""`rookery transform`: one raw Withings response file → its ROOK documents, one JSON per line.

Offline and pure: nothing is stored or sent. Every document is built before anything is
printed, so a bad file prints nothing on stdout, one line on stderr, and exits with status 2.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Final

import typer

from rookery.withings.responses import Endpoint

if TYPE_CHECKING:
    from pydantic import ValidationError

BAD_INPUT_EXIT: Final = 2
ENDPOINTS: Final = ", ".join(endpoint.value for endpoint in Endpoint)


class TransformInputError(Exception):
    """The command's input cannot be transformed; the message is the one line to print."""


def transform(
    file: Annotated[
        Path,
        typer.Argument(metavar="FILE", help="A raw Withings response: {'status':0,'body':{...}}."),
    ],
    endpoint: Annotated[str, typer.Option(help=f"The endpoint that returned FILE: {ENDPOINTS}.")],
    client_uuid: Annotated[str, typer.Option(help="The client the documents are for.")],
    user_id: Annotated[str, typer.Option(help="The client's id of the user.")],
    timezone: Annotated[
        str,
        typer.Option(
            help="The user's IANA zone, for responses that name none (sleep get, "
            "intraday activity, heart list)."
        ),
    ] = "UTC",
) -> None:
    """Print the ROOK documents a raw Withings response yields, one JSON object per line."""
    try:
        lines = render(
            file, endpoint=endpoint, client_uuid=client_uuid, user_id=user_id, timezone=timezone
        )
    except TransformInputError as error:
        typer.echo(f"rookery transform: {error}", err=True)
        raise typer.Exit(BAD_INPUT_EXIT) from None
    if lines:
        sys.stdout.write("\n".join(lines) + "\n")


def render(
    file: Path, *, endpoint: str, client_uuid: str, user_id: str, timezone: str
) -> list[str]:
    """The JSON lines of the documents in `file`; raises TransformInputError for bad input."""
    # Imported here so that the other commands start without the model and transform stack.
    from pydantic import TypeAdapter, ValidationError

    from rookery.model.common import UserId
    from rookery.transform.context import UserContext
    from rookery.transform.dispatch import transform_response
    from rookery.transform.time import zone
    from rookery.withings.errors import WithingsError, unwrap

    try:
        known = Endpoint(endpoint)
    except ValueError:
        raise TransformInputError(
            f"unknown endpoint {endpoint!r} (expected one of: {ENDPOINTS})"
        ) from None
    try:
        TypeAdapter(UserId).validate_python(user_id)
    except ValidationError:
        raise TransformInputError(
            f"bad user id {user_id!r}: 1 to 50 letters, digits or '-'"
        ) from None
    if not client_uuid:
        raise TransformInputError("the client uuid is empty")
    try:
        ctx = UserContext(client_uuid=client_uuid, user_id=user_id, timezone=zone(timezone))
    except ValueError as error:
        raise TransformInputError(str(error)) from None
    payload = _read_json(file)
    try:
        body = unwrap(payload, service=known.service, action=known.action)
        produced = transform_response(known, body, ctx)
        return [item.document.model_dump_json() for item in produced]
    except ValidationError as error:
        raise TransformInputError(
            f"{file}: a value does not fit ROOK's model: {_first_error(error)}"
        ) from None
    except (WithingsError, ValueError) as error:
        raise TransformInputError(f"{file}: {_one_line(str(error))}") from None


def _read_json(file: Path) -> Any:
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise TransformInputError(f"{file}: no such file") from None
    except IsADirectoryError:
        raise TransformInputError(f"{file}: is a directory, not a file") from None
    except (OSError, UnicodeDecodeError) as error:
        raise TransformInputError(f"{file}: cannot read it: {_one_line(str(error))}") from None
    try:
        return json.loads(text, parse_constant=_refuse_constant)
    except ValueError as error:
        raise TransformInputError(f"{file}: not JSON: {_one_line(str(error))}") from None
    except RecursionError:
        raise TransformInputError(f"{file}: not JSON this command reads: nested too deep") from None


def _refuse_constant(name: str) -> Any:
    # JSON has no NaN or Infinity; Python's decoder accepts them unless told not to.
    raise ValueError(f"{name} is not a JSON number")


def _first_error(error: ValidationError) -> str:
    first = error.errors()[0]
    where = ".".join(str(part) for part in first["loc"])
    return f"{where}: {first['msg']}"


def _one_line(text: str) -> str:
    return "; ".join(line.strip() for line in text.splitlines() if line.strip())
