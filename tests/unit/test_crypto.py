"""Password hashes, sealed secret keys and the server key file."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from mrsjobs.identity.crypto import SecretBox, check_password, hash_password, load_server_key


def test_password_hashes_are_salted_and_checked() -> None:
    first, second = hash_password("pw one"), hash_password("pw one")
    assert first != second
    assert "pw one" not in first
    assert check_password("pw one", first) and check_password("pw one", second)
    assert not check_password("pw two", first)
    assert not check_password("pw one", "not a hash")


def test_the_server_key_file_is_private_and_stable(tmp_path: Path) -> None:
    path = tmp_path / "secret.key"
    key = load_server_key(path, None)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_server_key(path, None) == key
    assert [p.name for p in tmp_path.iterdir()] == ["secret.key"]


def test_secrets_are_sealed_with_the_server_key(tmp_path: Path) -> None:
    box = SecretBox(load_server_key(tmp_path / "k", None))
    sealed = box.seal("my-secret-key")
    assert "my-secret-key" not in sealed
    assert box.open(sealed) == "my-secret-key"
    other = SecretBox(load_server_key(tmp_path / "other", None))
    with pytest.raises(ValueError, match="cannot be decrypted"):
        other.open(sealed)
