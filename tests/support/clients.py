"""Calling the service as its clients do: the MRS error envelope, and requests signed
with an access key by the Huawei Cloud SDK (its client, or its signer alone)."""

from __future__ import annotations

from typing import Any

import httpx

from tests.support.server import Server


def assert_error(resp: httpx.Response, status: int, code: str, *words: str) -> None:
    """An MRS error envelope with ``code`` whose message mentions every one of ``words``."""
    assert resp.status_code == status, resp.text
    body = resp.json()
    assert body["error_code"] == code, body
    for word in words:
        assert word in body["error_msg"], body
    assert resp.headers["x-request-id"]


def sdk_client(client_class: Any, server: Server, access_key: str | None = None,
               secret_key: str | None = None, project_id: str | None = None) -> Any:
    """A real ``huaweicloudsdkmrs`` client (v1 or v2) pointed at ``server``, signing
    every request with an access key (the server's own unless given)."""
    from huaweicloudsdkcore.auth.credentials import BasicCredentials

    credentials = BasicCredentials(access_key or server.access_key,
                                   secret_key or server.secret_key,
                                   project_id or server.project_id)
    return (
        client_class.new_builder()
        .with_credentials(credentials)
        .with_endpoints([server.endpoint])
        .build()
    )


def sdk_signed(server: Server, method: str, path: str, *,
               query: list[tuple[str, Any]] | None = None, body: bytes | None = None,
               access_key: str | None = None, secret_key: str | None = None,
               project_id: str | None = None, date: str | None = None
               ) -> tuple[str, dict[str, str]]:
    """The URL and headers huaweicloudsdkcore's own signer makes for a request (with an
    ``X-Sdk-Date`` of ``date`` if given), to send with any HTTP client."""
    from huaweicloudsdkcore.auth.credentials import BasicCredentials
    from huaweicloudsdkcore.sdk_request import SdkRequest

    headers = {"Content-Type": "application/json"}
    if date is not None:
        headers["X-Sdk-Date"] = date
    req = SdkRequest(method=method, schema="http", host=f"127.0.0.1:{server.port}",
                     resource_path=path, query_params=list(query or []),
                     header_params=headers, body=body)
    BasicCredentials(access_key or server.access_key, secret_key or server.secret_key,
                     project_id or server.project_id).sign_request(req)
    return server.endpoint + req.uri, dict(req.header_params)
