"""Secrets at rest: salted scrypt password hashes, and secret keys encrypted with the
server key (the server needs a secret key in clear to check a signature with it)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
import string
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken

# scrypt at N=2**14, r=8 costs about 16 MiB and a few tens of ms: slow for a guesser,
# fine for a sign-in.
_N, _R, _P = 2**14, 8, 1
_KEY_ALPHABET = string.ascii_uppercase + string.digits
_SECRET_ALPHABET = string.ascii_letters + string.digits


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def hash_password(password: str) -> str:
    salt = os.urandom(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=_N, r=_R, p=_P, dklen=32)
    return f"scrypt${_N}${_R}${_P}${_b64(salt)}${_b64(digest)}"


def check_password(password: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        expected = base64.b64decode(digest)
        actual = hashlib.scrypt(password.encode(), salt=base64.b64decode(salt), n=int(n),
                                r=int(r), p=int(p), dklen=len(expected))
    except ValueError:
        return False
    return hmac.compare_digest(actual, expected)


def new_access_key() -> tuple[str, str]:
    """An access key id (20 characters, as Huawei's look) and its secret (40)."""
    ak = "".join(secrets.choice(_KEY_ALPHABET) for _ in range(20))
    sk = "".join(secrets.choice(_SECRET_ALPHABET) for _ in range(40))
    return ak, sk


def new_token() -> str:
    return secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    # Tokens are 256 random bits, so a fast hash is as good as a slow one here.
    return hashlib.sha256(token.encode()).hexdigest()


class SecretBox:
    """Encrypts secret keys for the database with the server key (Fernet)."""

    def __init__(self, key: bytes) -> None:
        self._fernet = Fernet(key)

    def seal(self, secret: str) -> str:
        return self._fernet.encrypt(secret.encode()).decode()

    def open(self, sealed: str) -> str:
        try:
            return self._fernet.decrypt(sealed.encode()).decode()
        except InvalidToken:
            raise ValueError("a secret key cannot be decrypted with this server key") from None


def load_server_key(path: Path, given: str | None) -> bytes:
    """``given`` (from ``MRSJOBS_SECRET_KEY``) or the key file, created with mode 0600
    on first use."""
    if given:
        return given.encode()
    try:
        return path.read_bytes().strip()
    except FileNotFoundError:
        pass
    key = Fernet.generate_key()
    # Written aside and linked into place, so no reader ever sees a half-written file.
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(key + b"\n")
    try:
        os.link(tmp, path)
    except FileExistsError:  # another process made it first
        key = path.read_bytes().strip()
    finally:
        tmp.unlink()
    return key
