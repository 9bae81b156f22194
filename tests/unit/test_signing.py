"""Signatures made by huaweicloudsdkcore's own ``Signer`` pass; any change to a
signed part fails, and says which check failed."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from huaweicloudsdkcore.auth.credentials import BasicCredentials
from huaweicloudsdkcore.sdk_request import SdkRequest
from huaweicloudsdkcore.signer.signer import Signer

from mrsjobs.domain.errors import AuthenticationFailed
from mrsjobs.identity import signing

AK, SK = "HPUAEXAMPLEKEY000001", "s3cr3t" * 6
NOW = datetime(2026, 5, 4, 3, 2, 1, tzinfo=UTC)
WINDOW = 900


def sdk_signed(method: str = "POST", path: str = "/v2/p1/clusters/c-1/job-executions",
               query: list[tuple[str, Any]] | None = None, body: bytes | None = b'{"a": 1}',
               at: datetime = NOW) -> tuple[signing.SignedRequest, str]:
    """A request as the SDK signs and sends it, as the server sees it."""
    headers = {"Content-Type": "application/json", "X-Project-Id": "p1",
               "User-Agent": "huaweicloud-usdk-python/3.0",
               "X-Sdk-Date": at.strftime(signing.DATE_FORMAT)}
    req = SdkRequest(method=method, schema="http", host="127.0.0.1:9529", resource_path=path,
                     query_params=query if query is not None
                     else [("limit", 10), ("job_name", "a b/ü")],
                     header_params=headers, body=body)
    Signer(BasicCredentials(AK, SK, "p1")).sign(req)
    sent_path, _, sent_query = req.uri.partition("?")
    sent_headers = {k.lower(): v for k, v in req.header_params.items()}
    authorization = sent_headers.pop("authorization")
    return signing.SignedRequest(method, sent_path, sent_query, sent_headers,
                                 req.body or b""), authorization


def check(req: signing.SignedRequest, authorization: str, now: datetime = NOW,
          secret: str = SK) -> None:
    signing.verify(req, signing.parse_authorization(authorization), secret, now, WINDOW)


def fails(req: signing.SignedRequest, authorization: str, message: str,
          now: datetime = NOW) -> None:
    with pytest.raises(AuthenticationFailed) as info:
        check(req, authorization, now)
    assert message in info.value.message
    assert SK not in info.value.message


def test_sdk_signatures_pass() -> None:
    check(*sdk_signed())
    check(*sdk_signed(method="GET", body=None, query=[]))
    check(*sdk_signed(path="/v1.1/p1/job-exes/", query=[("cluster_id", "c"), ("state", 2)]))
    check(*sdk_signed(query=[("x", True), ("k", ["b", "a"])]))
    # The server's own clock may differ from the client's within the window.
    check(*sdk_signed(), now=NOW + timedelta(seconds=WINDOW))
    check(*sdk_signed(), now=NOW - timedelta(seconds=WINDOW))


def test_the_authorization_header_names_the_key_and_headers() -> None:
    _, authorization = sdk_signed()
    parsed = signing.parse_authorization(authorization)
    assert parsed.access_key == AK
    assert parsed.signed_headers == ("content-type", "host", "user-agent", "x-project-id",
                                     "x-sdk-date")


def _flip(text: str) -> str:
    """The text with one character changed."""
    last = text[-1]
    return text[:-1] + ("b" if last == "a" else "a")


@pytest.mark.parametrize("part", ["method", "path", "query", "body"])
def test_a_changed_request_line_or_body_fails(part: str) -> None:
    req, authorization = sdk_signed()
    changed = {
        "method": {"method": "PUT"},
        "path": {"path": req.path.replace("c-1", "c-2")},
        "query": {"query": req.query.replace("limit=10", "limit=11")},
        "body": {"body": req.body.replace(b"1", b"2")},
    }[part]
    fails(dataclasses.replace(req, **changed), authorization, "signature does not match")


@pytest.mark.parametrize("header", ["content-type", "host", "user-agent", "x-project-id"])
def test_each_changed_signed_header_fails(header: str) -> None:
    req, authorization = sdk_signed()
    headers = {**req.headers, header: _flip(req.headers[header])}
    fails(dataclasses.replace(req, headers=headers), authorization, "signature does not match")


def test_a_changed_date_fails() -> None:
    req, authorization = sdk_signed()
    later = (NOW + timedelta(seconds=1)).strftime(signing.DATE_FORMAT)
    fails(dataclasses.replace(req, headers={**req.headers, "x-sdk-date": later}),
          authorization, "signature does not match")


def test_a_date_outside_the_window_fails() -> None:
    req, authorization = sdk_signed(at=NOW - timedelta(seconds=WINDOW + 1))
    fails(req, authorization, "X-Sdk-Date is outside the allowed window")
    req, authorization = sdk_signed(at=NOW + timedelta(seconds=WINDOW + 1))
    fails(req, authorization, "X-Sdk-Date is outside the allowed window")


def test_missing_or_malformed_date_fails() -> None:
    req, authorization = sdk_signed()
    without = {k: v for k, v in req.headers.items() if k != "x-sdk-date"}
    fails(dataclasses.replace(req, headers=without), authorization, "X-Sdk-Date is missing")
    bad = {**req.headers, "x-sdk-date": "2026-05-04 03:02:01"}
    fails(dataclasses.replace(req, headers=bad), authorization, "X-Sdk-Date is malformed")


def test_a_wrong_secret_or_tampered_signature_fails() -> None:
    req, authorization = sdk_signed()
    with pytest.raises(AuthenticationFailed, match="signature does not match"):
        check(req, authorization, secret=SK + "x")
    fails(req, _flip(authorization), "signature does not match")


def test_a_changed_extra_header_is_ignored_but_a_missing_signed_one_fails() -> None:
    req, authorization = sdk_signed()
    check(dataclasses.replace(req, headers={**req.headers, "x-other": "1"}), authorization)
    without = {k: v for k, v in req.headers.items() if k != "user-agent"}
    fails(dataclasses.replace(req, headers=without), authorization,
          "signed header user-agent is missing")


@pytest.mark.parametrize("value", [
    "",
    "Bearer abc",
    "SDK-HMAC-SHA256 Access=AK, SignedHeaders=host;x-sdk-date",
    "SDK-HMAC-SHA256 Access=AK, SignedHeaders=host;x-sdk-date, Signature=xyz",
    "SDK-HMAC-SHA256 Access=AK, SignedHeaders=Host;x-sdk-date, Signature=" + "0" * 64,
])
def test_malformed_authorization_fails(value: str) -> None:
    with pytest.raises(AuthenticationFailed, match=r"Authorization header is malformed|"
                                                    r"SignedHeaders must be"):
        signing.parse_authorization(value)


def test_the_date_and_host_must_be_signed() -> None:
    value = "SDK-HMAC-SHA256 Access=AK, SignedHeaders=content-type;host, Signature=" + "0" * 64
    with pytest.raises(AuthenticationFailed, match="x-sdk-date header must be signed"):
        signing.parse_authorization(value)


def test_a_declared_payload_hash_must_match_the_body() -> None:
    req, authorization = sdk_signed()
    unsigned = {**req.headers, "x-sdk-content-sha256": "UNSIGNED-PAYLOAD"}
    fails(dataclasses.replace(req, headers=unsigned), authorization,
          "body does not match X-Sdk-Content-Sha256")


def test_canonical_forms_match_the_sdk() -> None:
    assert signing.canonical_uri("/v2/p/clusters") == "/v2/p/clusters/"
    assert signing.canonical_uri("/v2/p/clusters/") == "/v2/p/clusters/"
    assert signing.canonical_uri("/a%20b/c~d") == "/a%20b/c~d/"
    assert signing.canonical_query("b=2&a=1&a=0&c") == "a=0&a=1&b=2&c="
    assert signing.canonical_query("") == ""
