"""AK/SK request signatures (``SDK-HMAC-SHA256``) exactly as ``huaweicloudsdkcore``'s
``Signer`` makes them. Pure: the caller looks the secret key up and reads the clock.

The signed string is::

    SDK-HMAC-SHA256 \\n X-Sdk-Date \\n sha256hex(canonical request)

and the canonical request is the method, the path with each segment percent-encoded
and a trailing ``/``, the sorted query, the signed headers (``name:value`` lines,
names lowercased and sorted), their names joined by ``;``, and the body's sha256.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import quote, unquote

from ..domain.errors import AuthenticationFailed

ALGORITHM = "SDK-HMAC-SHA256"
DATE_FORMAT = "%Y%m%dT%H%M%SZ"
EMPTY_HASH = hashlib.sha256(b"").hexdigest()
#: Headers that must be among the signed ones: without them a request could be
#: replayed at another time or against another server.
REQUIRED_SIGNED = ("host", "x-sdk-date")

_AUTHORIZATION = re.compile(
    r"^SDK-HMAC-SHA256\s+Access=([^,\s]+),\s*SignedHeaders=([^,\s]+),\s*Signature=([0-9a-f]{64})$")


def _fail(check: str) -> AuthenticationFailed:
    return AuthenticationFailed(f"Invalid authentication: {check}.")


@dataclass(frozen=True, slots=True)
class Authorization:
    """The parts of an ``Authorization: SDK-HMAC-SHA256 ...`` header."""

    access_key: str
    signed_headers: tuple[str, ...]
    signature: str


@dataclass(frozen=True, slots=True)
class SignedRequest:
    """What a signature covers. ``headers`` have lowercased names and the values as
    sent; ``path`` and ``query`` are as sent (still percent-encoded)."""

    method: str
    path: str
    query: str
    headers: Mapping[str, str]
    body: bytes


def is_signed(authorization: str | None) -> bool:
    return authorization is not None and authorization.lstrip().startswith(ALGORITHM)


def parse_authorization(value: str) -> Authorization:
    match = _AUTHORIZATION.match(value.strip())
    if match is None:
        raise _fail("the Authorization header is malformed (expected "
                    "'SDK-HMAC-SHA256 Access=..., SignedHeaders=..., Signature=...')")
    access_key, names, signature = match.groups()
    signed = tuple(names.split(";"))
    if list(signed) != sorted({n.lower() for n in signed}):
        raise _fail("SignedHeaders must be lowercase, sorted and distinct")
    for name in REQUIRED_SIGNED:
        if name not in signed:
            raise _fail(f"the {name} header must be signed")
    return Authorization(access_key, signed, signature)


def parse_date(value: str | None) -> datetime:
    if not value:
        raise _fail("X-Sdk-Date is missing")
    try:
        return datetime.strptime(value, DATE_FORMAT).replace(tzinfo=UTC)
    except ValueError:
        raise _fail("X-Sdk-Date is malformed (expected YYYYMMDDTHHMMSSZ)") from None


def check_date(sent: datetime, now: datetime, window_s: float) -> None:
    if abs((now - sent).total_seconds()) > window_s:
        raise _fail("X-Sdk-Date is outside the allowed window")


def _encode(text: str) -> str:
    return quote(text, safe="~")


def canonical_uri(path: str) -> str:
    encoded = "/".join(_encode(segment) for segment in unquote(path).split("/"))
    return encoded if encoded.endswith("/") else encoded + "/"


def canonical_query(query: str) -> str:
    pairs = []
    for item in query.split("&"):
        if item:
            key, _, value = item.partition("=")
            pairs.append((unquote(key), unquote(value)))
    return "&".join(f"{_encode(k)}={_encode(v)}" for k, v in sorted(pairs))


def _header_value(raw: str) -> str:
    # The SDK sends UTF-8 bytes; HTTP servers hand header values over as Latin-1.
    try:
        return raw.encode("latin-1").decode("utf-8").strip()
    except UnicodeError:
        return raw.strip()


def payload_hash(req: SignedRequest) -> str:
    if not req.body:
        return EMPTY_HASH
    actual = hashlib.sha256(req.body).hexdigest()
    declared = req.headers.get("x-sdk-content-sha256")
    if declared is not None and declared != actual:
        # Includes UNSIGNED-PAYLOAD: every body here is JSON, which the SDK signs.
        raise _fail("the body does not match X-Sdk-Content-Sha256")
    return actual


def canonical_request(req: SignedRequest, signed_headers: tuple[str, ...]) -> str:
    lines = []
    for name in signed_headers:
        value = req.headers.get(name)
        if value is None:
            raise _fail(f"the signed header {name} is missing")
        lines.append(f"{name}:{_header_value(value)}")
    return "\n".join((req.method.upper(), canonical_uri(req.path), canonical_query(req.query),
                      "\n".join(lines) + "\n", ";".join(signed_headers), payload_hash(req)))


def string_to_sign(canonical: str, date: str) -> str:
    digest = hashlib.sha256(canonical.encode()).hexdigest()
    return f"{ALGORITHM}\n{date}\n{digest}"


def signature(secret_key: str, to_sign: str) -> str:
    return hmac.new(secret_key.encode(), to_sign.encode(), hashlib.sha256).hexdigest()


def verify(req: SignedRequest, auth: Authorization, secret_key: str, now: datetime,
           window_s: float) -> None:
    """Raise :class:`AuthenticationFailed` naming the first check that fails."""
    date = req.headers.get("x-sdk-date")
    check_date(parse_date(date), now, window_s)
    expected = signature(secret_key, string_to_sign(canonical_request(req, auth.signed_headers),
                                                    date or ""))
    if not hmac.compare_digest(expected, auth.signature):
        raise _fail("signature does not match")
