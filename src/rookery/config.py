"""Configuration from the environment (prefix `ROOKERY_`).

`load_settings()` reads and checks every variable once; any problem becomes a `ConfigError` whose
message is one line naming the variable, which the command line prints before exiting with status 2.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Final

from cryptography.fernet import Fernet
from pydantic import (
    AnyHttpUrl,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

if TYPE_CHECKING:
    from sqlalchemy.engine import URL

from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

# The Withings app that `rookery sandbox` knows and `rookery serve` uses when none is configured,
# so that the two work together with no configuration. Never valid at the real Withings.
DEFAULT_WITHINGS_CLIENT_ID: Final = "rookery-sandbox-client"
DEFAULT_WITHINGS_CLIENT_SECRET: Final = "rookery-sandbox-secret"  # noqa: S105 - a public sandbox default

ENV_PREFIX: Final = "ROOKERY_"
DEFAULT_DATABASE_URL: Final = "sqlite:///var/rookery.db"
# Where an embedded run keeps what is not in the database (the generated encryption key).
ENCRYPTION_KEY_FILE: Final = "encryption.keys"

IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class ConfigError(Exception):
    """Bad configuration; the message is one line that names the variable."""


class Settings(BaseSettings):
    """Every setting of product.md §2, typed and checked. Build it with `load_settings()`."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, extra="ignore", frozen=True, case_sensitive=False
    )

    database_url: str = DEFAULT_DATABASE_URL
    public_url: AnyHttpUrl = AnyHttpUrl("http://127.0.0.1:8000")
    withings_client_id: str = DEFAULT_WITHINGS_CLIENT_ID
    withings_client_secret: SecretStr = SecretStr(DEFAULT_WITHINGS_CLIENT_SECRET)
    withings_api_url: AnyHttpUrl = AnyHttpUrl("https://wbsapi.withings.net")
    withings_authorize_url: AnyHttpUrl = AnyHttpUrl(
        "https://account.withings.com/oauth2_user/authorize2"
    )
    withings_rate_limit_per_minute: int = Field(default=120, gt=0)
    backfill_days: int = Field(default=30, ge=0)
    # Comma-separated Fernet keys: the first encrypts, all decrypt. Unset on SQLite: a key is
    # generated into `data_dir` on first run (see `rookery.store.crypto.load_cipher`).
    encryption_keys: SecretStr | None = None
    admin_token: SecretStr | None = None
    webhook_allowed_networks: Annotated[tuple[IpNetwork, ...], NoDecode] = ()
    # Files that are not in the database. Unset: the SQLite database's folder, else `var`.
    data_dir: Path | None = None

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # `load_settings` reads the environment it is given; nothing else may add values, so
        # that a test's settings never pick up the process environment.
        return (init_settings,)

    @field_validator("database_url")
    @classmethod
    def _check_database_url(cls, value: str) -> str:
        from sqlalchemy.exc import ArgumentError

        message = "must be sqlite:///PATH or postgresql://…"
        try:
            url = _parse_url(value)
        except ArgumentError:
            raise ValueError(message) from None
        if url.drivername == "sqlite":
            if not url.database or url.database == ":memory:":
                raise ValueError("must name a database file (sqlite:///PATH)")
        elif url.drivername != "postgresql":
            raise ValueError(message)
        return value

    @field_validator("encryption_keys")
    @classmethod
    def _check_encryption_keys(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None:
            return None
        keys = split_keys(value.get_secret_value())
        if not keys:
            raise ValueError("must hold at least one Fernet key")
        for position, key in enumerate(keys, start=1):
            try:
                Fernet(key)
            except ValueError:
                raise ValueError(
                    f"key {position} is not a Fernet key (32 url-safe base64 bytes)"
                ) from None
        return value

    @field_validator("webhook_allowed_networks", mode="before")
    @classmethod
    def _parse_networks(cls, value: object) -> object:
        if not isinstance(value, str):
            return value
        networks: list[IpNetwork] = []
        for part in value.split(","):
            if part.strip():
                try:
                    networks.append(ipaddress.ip_network(part.strip()))
                except ValueError:
                    raise ValueError(f"{part.strip()!r} is not a CIDR network") from None
        return tuple(networks)

    @model_validator(mode="after")
    def _check_engine_needs(self) -> Settings:
        if self.is_postgresql and self.encryption_keys is None:
            raise ValueError(
                "ROOKERY_ENCRYPTION_KEYS: must be set when the database is PostgreSQL "
                "(generate one with: python -c 'from cryptography.fernet import Fernet; "
                "print(Fernet.generate_key().decode())')"
            )
        return self

    @property
    def is_postgresql(self) -> bool:
        """Whether the database is PostgreSQL (scale-out) rather than embedded SQLite."""
        return _parse_url(self.database_url).drivername == "postgresql"

    @property
    def resolved_data_dir(self) -> Path:
        """The data folder: `data_dir` if set, else the SQLite file's folder, else `var`."""
        if self.data_dir is not None:
            return self.data_dir
        url = _parse_url(self.database_url)
        if url.drivername == "sqlite" and url.database:
            return Path(url.database).parent
        return Path("var")

    def public_url_for(self, path: str) -> str:
        """The absolute URL the outside world uses for `path` (which starts with `/`)."""
        return str(self.public_url).rstrip("/") + path

    @property
    def public_url_on_loopback(self) -> bool:
        """Whether the public URL names this machine only (a local run, the demo, tests)."""
        host = self.public_url.host or ""
        if host == "localhost":
            return True
        try:
            return ipaddress.ip_address(host.strip("[]")).is_loopback
        except ValueError:
            return False


def split_keys(value: str) -> list[str]:
    """The non-empty comma-separated entries of a keys string."""
    return [part.strip() for part in value.split(",") if part.strip()]


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Read the settings from `environ` (default: the process environment).

    Raises `ConfigError` with one line naming the first bad variable.
    """
    source = os.environ if environ is None else environ
    known = Settings.model_fields
    # Other ROOKERY_ variables (test settings, ...) are not ours to judge; empty means unset.
    values = {
        name: value
        for key, value in source.items()
        if (name := key.upper().removeprefix(ENV_PREFIX).lower()) in known
        and key.upper().startswith(ENV_PREFIX)
        and value != ""
    }
    try:
        # Values go in as init arguments so that `environ` alone decides (no .env, no os.environ).
        return Settings.model_validate(values)
    except ValidationError as error:
        raise ConfigError(_one_line(error)) from None


def _one_line(error: ValidationError) -> str:
    first = error.errors(include_url=False)[0]
    message = str(first["msg"]).removeprefix("Value error, ")
    if not first["loc"]:  # a model-level check: its message names the variable itself
        return message
    variable = f"{ENV_PREFIX}{str(first['loc'][0]).upper()}"
    return f"{variable}: {message}"


def _parse_url(value: str) -> URL:
    # SQLAlchemy's parser, imported on use: commands that never touch a database (the sandbox,
    # transform) start without loading SQLAlchemy.
    from sqlalchemy.engine import make_url

    return make_url(value)
