"""Render the configuration table of `docs/operations.md` from `rookery.config.Settings`.

Run `python -m rookery.docs.configuration` to rewrite the table, `--check` to fail when it is
stale. Names, defaults and types come from `Settings`; the meanings are below, and a setting
without one (or a meaning for a setting that no longer exists) stops the generator.
"""

from __future__ import annotations

import argparse
import types
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Final, Union, get_args, get_origin

from pydantic import SecretStr

from rookery.config import ENV_PREFIX, Settings
from rookery.docs.files import replace_block, write_or_check

DEFAULT_PATH: Final = Path("docs/operations.md")
BLOCK: Final = "generated configuration"
REGENERATE: Final = "python -m rookery.docs.configuration"

MEANINGS: Final[Mapping[str, str]] = {
    "database_url": "`sqlite:///PATH` (embedded; relative to the working directory) or "
    "`postgresql://…` (scale-out: any number of processes on one database)",
    "public_url": "the base URL the outside world reaches this server at: the OAuth "
    "`redirect_uri` and the Withings notification callback are built from it",
    "withings_client_id": "the Withings developer app's client id (the default is the "
    "sandbox's app)",
    "withings_client_secret": "that app's secret (the default is the sandbox's)",
    "withings_api_url": "base of `/v2/oauth2`, `/measure`, `/v2/measure`, `/v2/sleep`, "
    "`/v2/heart`, `/v2/user`, `/notify` (point it at `rookery sandbox` for development)",
    "withings_authorize_url": "the Withings consent page users are sent to",
    "withings_rate_limit_per_minute": "ceiling on Withings calls, shared by every process of "
    "the deployment (one bucket in the database)",
    "backfill_days": "history pulled when a user links Withings",
    "encryption_keys": "comma-separated Fernet keys: the first encrypts, all decrypt "
    "(rotation). Required on PostgreSQL; on SQLite a key is generated into the data folder "
    "on first run",
    "admin_token": "the operator's token: signs in to the dashboard; operator features are off "
    "while it is unset",
    "webhook_allowed_networks": "comma-separated CIDRs that client webhook URLs may target "
    "besides public addresses (SSRF guard); loopback is allowed without listing only while "
    "`ROOKERY_PUBLIC_URL` is on loopback",
    "data_dir": "folder for what is not in the database (the generated encryption key); "
    "unset: the SQLite file's folder, else `var`",
}


def _type_name(annotation: Any) -> str:
    origin = get_origin(annotation)
    if origin in (Union, types.UnionType):
        names = [_type_name(arg) for arg in get_args(annotation) if arg is not type(None)]
        return " \\| ".join(dict.fromkeys(names))
    if origin is not None and get_args(annotation):
        if origin is tuple:
            return "list of " + _type_name(get_args(annotation)[0])
        return _type_name(get_args(annotation)[0])  # Annotated[...]
    name = getattr(annotation, "__name__", str(annotation))
    return {
        "str": "string",
        "int": "integer",
        "SecretStr": "secret",
        "AnyHttpUrl": "URL",
        "Path": "path",
        "IPv4Network": "CIDR",
        "IPv6Network": "CIDR",
    }.get(name, name)


def _default(value: Any) -> str:
    if value is None or value == ():
        return "—"
    if isinstance(value, SecretStr):
        return f"`{value.get_secret_value()}`"
    return f"`{value}`"


def render_table() -> str:
    """The Markdown table of every setting, one row per `ROOKERY_` variable."""
    fields = Settings.model_fields
    missing = sorted(set(fields) - set(MEANINGS))
    stale = sorted(set(MEANINGS) - set(fields))
    if missing or stale:
        raise ValueError(f"settings without a meaning: {missing}; meanings of no setting: {stale}")
    lines = ["| variable | type | default | meaning |", "|---|---|---|---|"]
    for name, info in fields.items():
        kind = _type_name(info.annotation)
        variable = f"`{ENV_PREFIX}{name.upper()}`"
        lines.append(f"| {variable} | {kind} | {_default(info.default)} | {MEANINGS[name]} |")
    return "\n".join(lines) + "\n"


def render(document: str) -> str:
    """`document` (operations.md) with its configuration block regenerated."""
    return replace_block(document, BLOCK, render_table())


def main(argv: Sequence[str] | None = None) -> int:
    """Regenerate (or with `--check`, compare) the block; 1 when `--check` finds it stale."""
    parser = argparse.ArgumentParser(prog=f"python -m {__name__}", description=__doc__)
    parser.add_argument("--check", action="store_true", help="fail if the file is out of date")
    parser.add_argument("--path", type=Path, default=DEFAULT_PATH)
    args = parser.parse_args(argv)
    path: Path = args.path
    text = render(path.read_text(encoding="utf-8"))
    return write_or_check(path, text, check=args.check, regenerate=REGENERATE)


if __name__ == "__main__":
    raise SystemExit(main())
