"""Secrets at rest: encryption round trip and key rotation, the key file, secret hashing."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rookery.config import ConfigError, Settings, load_settings
from rookery.store.crypto import (
    DecryptionError,
    TokenCipher,
    generate_key,
    hash_secret,
    load_cipher,
    secret_matches,
)

KEY_A = generate_key()
KEY_B = generate_key()


@given(st.text())
def test_decrypt_returns_what_was_encrypted(plaintext: str) -> None:
    cipher = TokenCipher([KEY_A])
    ciphertext = cipher.encrypt(plaintext)
    assert cipher.decrypt(ciphertext) == plaintext


def test_the_ciphertext_does_not_show_the_plaintext() -> None:
    ciphertext = TokenCipher([KEY_A]).encrypt("withings-access-token-123")
    assert "withings-access-token-123" not in ciphertext
    assert ciphertext != TokenCipher([KEY_A]).encrypt("withings-access-token-123")


def test_rotation_reads_old_values_and_reencrypts_them_under_the_new_key() -> None:
    old = TokenCipher([KEY_A]).encrypt("refresh-token")
    rotated = TokenCipher([KEY_B, KEY_A])
    assert rotated.decrypt(old) == "refresh-token"

    reencrypted = rotated.reencrypt(old)
    assert TokenCipher([KEY_B]).decrypt(reencrypted) == "refresh-token"
    with pytest.raises(DecryptionError):
        TokenCipher([KEY_A]).decrypt(reencrypted)


def test_the_first_key_encrypts() -> None:
    ciphertext = TokenCipher([KEY_B, KEY_A]).encrypt("token")
    assert TokenCipher([KEY_B]).decrypt(ciphertext) == "token"
    with pytest.raises(DecryptionError):
        TokenCipher([KEY_A]).decrypt(ciphertext)


def test_a_value_no_key_opens_is_a_decryption_error() -> None:
    with pytest.raises(DecryptionError):
        TokenCipher([KEY_A]).decrypt("not a fernet token")
    with pytest.raises(DecryptionError):
        TokenCipher([KEY_A]).reencrypt(TokenCipher([KEY_B]).encrypt("x"))


def _embedded(tmp_path: Path) -> Settings:
    return load_settings({"ROOKERY_DATABASE_URL": f"sqlite:///{tmp_path / 'db' / 'r.db'}"})


def test_an_embedded_run_generates_a_key_file_once_and_reuses_it(tmp_path: Path) -> None:
    settings = _embedded(tmp_path)
    ciphertext = load_cipher(settings).encrypt("token")

    key_file = tmp_path / "db" / "encryption.keys"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert load_cipher(settings).decrypt(ciphertext) == "token"
    assert TokenCipher([key_file.read_text().strip()]).decrypt(ciphertext) == "token"


def test_configured_keys_win_over_the_key_file(tmp_path: Path) -> None:
    settings = load_settings(
        {
            "ROOKERY_DATABASE_URL": f"sqlite:///{tmp_path / 'r.db'}",
            "ROOKERY_ENCRYPTION_KEYS": f"{KEY_A}, {KEY_B}",
        }
    )
    ciphertext = load_cipher(settings).encrypt("token")
    assert TokenCipher([KEY_A]).decrypt(ciphertext) == "token"
    assert not (tmp_path / "encryption.keys").exists()


def test_a_key_file_without_a_key_is_a_config_error(tmp_path: Path) -> None:
    (tmp_path / "db").mkdir()
    (tmp_path / "db" / "encryption.keys").write_text("\n")
    with pytest.raises(ConfigError, match=r"^ROOKERY_ENCRYPTION_KEYS: .*encryption\.keys"):
        load_cipher(_embedded(tmp_path))


def test_a_key_file_with_a_broken_key_is_a_config_error(tmp_path: Path) -> None:
    (tmp_path / "db").mkdir()
    (tmp_path / "db" / "encryption.keys").write_text("not-a-key\n")
    with pytest.raises(ConfigError, match="ROOKERY_ENCRYPTION_KEYS"):
        load_cipher(_embedded(tmp_path))


@given(st.text(min_size=1), st.text(min_size=1))
def test_a_secret_matches_its_hash_only(secret: str, other: str) -> None:
    stored = hash_secret(secret)
    assert len(stored) == 64
    assert secret_matches(secret, stored)
    assert secret_matches(other, stored) == (other == secret)
