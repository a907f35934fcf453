"""Configuration: defaults, and every bad variable is one line that names it."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest
from pydantic import SecretStr

from rookery.config import (
    DEFAULT_WITHINGS_CLIENT_ID,
    DEFAULT_WITHINGS_CLIENT_SECRET,
    ConfigError,
    load_settings,
)
from rookery.store.crypto import generate_key


def test_defaults_follow_the_product_contract() -> None:
    settings = load_settings({})
    assert settings.database_url == "sqlite:///var/rookery.db"
    assert str(settings.public_url) == "http://127.0.0.1:8000/"
    assert settings.withings_client_id == DEFAULT_WITHINGS_CLIENT_ID
    assert settings.withings_client_secret.get_secret_value() == DEFAULT_WITHINGS_CLIENT_SECRET
    assert str(settings.withings_api_url) == "https://wbsapi.withings.net/"
    assert (
        str(settings.withings_authorize_url)
        == "https://account.withings.com/oauth2_user/authorize2"
    )
    assert settings.withings_rate_limit_per_minute == 120
    assert settings.backfill_days == 30
    assert settings.encryption_keys is None
    assert settings.admin_token is None
    assert settings.webhook_allowed_networks == ()
    assert settings.resolved_data_dir == Path("var")
    assert settings.public_url_on_loopback
    assert not settings.is_postgresql


def test_every_variable_is_read_from_the_environment() -> None:
    key = generate_key()
    settings = load_settings(
        {
            "ROOKERY_DATABASE_URL": "postgresql://rookery@db.internal/rookery",
            "ROOKERY_PUBLIC_URL": "https://rookery.example.com",
            "ROOKERY_WITHINGS_CLIENT_ID": "id",
            "ROOKERY_WITHINGS_CLIENT_SECRET": "secret",
            "ROOKERY_WITHINGS_API_URL": "http://127.0.0.1:8100",
            "ROOKERY_WITHINGS_AUTHORIZE_URL": "http://127.0.0.1:8100/oauth2_user/authorize2",
            "ROOKERY_WITHINGS_RATE_LIMIT_PER_MINUTE": "60",
            "ROOKERY_BACKFILL_DAYS": "7",
            "ROOKERY_ENCRYPTION_KEYS": key,
            "ROOKERY_ADMIN_TOKEN": "admin",
            "ROOKERY_WEBHOOK_ALLOWED_NETWORKS": "10.0.0.0/8, fd00::/8",
            "ROOKERY_DATA_DIR": "/srv/rookery",
            "ROOKERY_TEST_POSTGRES_URL": "ignored: not a setting",
            "PATH": "/usr/bin",
        }
    )
    assert settings.is_postgresql
    assert (
        settings.public_url_for("/withings/notify") == "https://rookery.example.com/withings/notify"
    )
    assert not settings.public_url_on_loopback
    assert settings.withings_client_id == "id"
    assert settings.withings_client_secret == SecretStr("secret")
    assert settings.withings_rate_limit_per_minute == 60
    assert settings.backfill_days == 7
    assert settings.admin_token == SecretStr("admin")
    assert settings.webhook_allowed_networks == (
        ipaddress.ip_network("10.0.0.0/8"),
        ipaddress.ip_network("fd00::/8"),
    )
    assert settings.resolved_data_dir == Path("/srv/rookery")


def test_secrets_do_not_show_in_the_settings_repr() -> None:
    settings = load_settings(
        {"ROOKERY_WITHINGS_CLIENT_SECRET": "s3cr3t-value", "ROOKERY_ADMIN_TOKEN": "t0ken-value"}
    )
    assert "s3cr3t-value" not in repr(settings)
    assert "t0ken-value" not in repr(settings)


def test_the_data_folder_defaults_to_the_sqlite_files_folder() -> None:
    settings = load_settings({"ROOKERY_DATABASE_URL": "sqlite:////srv/data/rookery.db"})
    assert settings.resolved_data_dir == Path("/srv/data")


def test_an_empty_variable_counts_as_unset() -> None:
    assert load_settings({"ROOKERY_BACKFILL_DAYS": ""}).backfill_days == 30


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("ROOKERY_DATABASE_URL", "mysql://db/rookery", "must be sqlite:///PATH or postgresql://"),
        ("ROOKERY_DATABASE_URL", "not a url", "must be sqlite:///PATH or postgresql://"),
        ("ROOKERY_DATABASE_URL", "sqlite://", "must name a database file"),
        ("ROOKERY_DATABASE_URL", "sqlite:///:memory:", "must name a database file"),
        ("ROOKERY_PUBLIC_URL", "ftp://example.com", "URL scheme should be 'http' or 'https'"),
        ("ROOKERY_WITHINGS_API_URL", "nowhere", "valid URL"),
        ("ROOKERY_WITHINGS_AUTHORIZE_URL", "nowhere", "valid URL"),
        ("ROOKERY_WITHINGS_RATE_LIMIT_PER_MINUTE", "0", "greater than 0"),
        ("ROOKERY_WITHINGS_RATE_LIMIT_PER_MINUTE", "lots", "valid integer"),
        ("ROOKERY_BACKFILL_DAYS", "-1", "greater than or equal to 0"),
        ("ROOKERY_ENCRYPTION_KEYS", "not-a-key", "key 1 is not a Fernet key"),
        ("ROOKERY_ENCRYPTION_KEYS", " , ", "at least one Fernet key"),
        ("ROOKERY_WEBHOOK_ALLOWED_NETWORKS", "10.0.0.0/8,intranet", "'intranet' is not a CIDR"),
        ("ROOKERY_WEBHOOK_ALLOWED_NETWORKS", "10.0.0.1/8", "is not a CIDR"),
    ],
)
def test_a_bad_variable_is_one_line_naming_it(variable: str, value: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings({variable: value})
    text = str(caught.value)
    assert text.startswith(f"{variable}: ")
    assert message in text
    assert "\n" not in text


def test_a_second_bad_key_is_named_by_position() -> None:
    with pytest.raises(ConfigError, match="key 2 is not a Fernet key"):
        load_settings({"ROOKERY_ENCRYPTION_KEYS": f"{generate_key()},oops"})


def test_postgresql_refuses_to_start_without_encryption_keys() -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings({"ROOKERY_DATABASE_URL": "postgresql://db/rookery"})
    assert str(caught.value).startswith("ROOKERY_ENCRYPTION_KEYS: must be set")
    assert "\n" not in str(caught.value)


def test_only_the_given_environment_counts(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ROOKERY_BACKFILL_DAYS", "3")
    assert load_settings({}).backfill_days == 30
    assert load_settings().backfill_days == 3
