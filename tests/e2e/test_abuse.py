"""Abuse limits against a real server: failed sign-ins (password, token, AK/SK) are
throttled with 429 and Retry-After, and idle sockets neither lock clients out nor stay
open. Other source addresses are given as X-Forwarded-For, which uvicorn trusts from
loopback (as from a proxy on the same host)."""

from __future__ import annotations

import contextlib
import errno
import resource
import socket
import time
from collections.abc import Callable, Iterator

import httpx
import pytest

from tests.support.clients import assert_error, sdk_signed
from tests.support.server import FAST, Server
from tests.support.waiting import wait_for

PASSWORD = "correct horse battery staple"
#: Three failures in the window, then 429.
THROTTLED = {**FAST, "signin_failures": "3", "signin_window_s": "60"}


def add_user(server: Server, name: str) -> None:
    server.cli("user", "create", "--project", server.project_id, "--name", name,
               "--role", "member", "--password", PASSWORD)


def login(server: Server, name: str, password: str = PASSWORD,
          source: str | None = None) -> httpx.Response:
    body = {"auth": {"identity": {"methods": ["password"], "password": {"user": {
        "name": name, "domain": {"name": "Default"}, "password": password}}},
        "scope": {"project": {"id": server.project_id}}}}
    headers = {"X-Forwarded-For": source} if source else {}
    return httpx.post(server.endpoint + "/v3/auth/tokens", json=body, headers=headers,
                      timeout=30)


def assert_throttled(resp: httpx.Response, *words: str) -> int:
    """A 429 with the MRS envelope and a Retry-After; its seconds."""
    assert_error(resp, 429, "APIGW.0308", "throttling threshold", *words)
    retry_after = int(resp.headers["retry-after"])
    assert retry_after >= 1
    return retry_after


# -- failed sign-ins ------------------------------------------------------------------


def test_the_right_password_works_again_once_the_window_has_passed(
        server_factory: Callable[..., Server]) -> None:
    server = server_factory(**{**THROTTLED, "signin_window_s": "5"})
    add_user(server, "bob")
    for _ in range(3):
        assert login(server, "bob", "wrong").status_code == 401
    started = time.monotonic()
    refused = login(server, "bob")  # the right password, refused before it is checked
    assert assert_throttled(refused, "try again in") <= 5
    assert refused.json()["error"]["code"] == 429  # keystoneauth1 reads this envelope
    ok = wait_for(lambda: (r := login(server, "bob")).status_code != 429 and r,
                  timeout=20, interval=0.2, message="the window to pass")
    assert ok.status_code == 201, ok.text
    assert time.monotonic() - started < 15


def test_failures_count_per_user_name_and_per_source(
        server_factory: Callable[..., Server]) -> None:
    server = server_factory(**THROTTLED)
    for name in ("bob", "carol"):
        add_user(server, name)
    # Per user name: three guesses from three addresses hold bob up from any address
    # (a name that does not exist is counted the same way)...
    for i in (1, 2, 3):
        assert login(server, "bob", "wrong", source=f"10.0.0.{i}").status_code == 401
        assert login(server, "nobody", "wrong", source=f"10.0.1.{i}").status_code == 401
    assert_throttled(login(server, "bob", source="10.0.0.4"), "user")
    assert_throttled(login(server, "nobody", source="10.0.1.4"), "user")
    # ... but not carol.
    assert login(server, "carol", source="10.0.0.4").status_code == 201
    # Per source: carol's success does not clear what the address failed before it.
    src = "10.0.2.1"
    assert login(server, "dave", "wrong", source=src).status_code == 401
    assert login(server, "erin", "wrong", source=src).status_code == 401
    assert login(server, "carol", source=src).status_code == 201
    assert login(server, "frank", "wrong", source=src).status_code == 401
    assert_throttled(login(server, "carol", source=src), "address")
    assert login(server, "carol", source="10.0.2.2").status_code == 201


def test_unknown_tokens_count_against_the_source(
        server_factory: Callable[..., Server]) -> None:
    server = server_factory(**THROTTLED)
    add_user(server, "bob")
    src = {"X-Forwarded-For": "10.0.3.1"}
    for i in range(3):
        with server.client(f"not-a-token-{i}") as c:
            assert_error(c.get(server.jobs_path, headers=src), 401, "12000001")
    with server.client("not-a-token-3") as c:
        refused = c.get(server.jobs_path, headers=src)
    assert_throttled(refused, "address")
    # A valid token is never refused; the address's password sign-ins are.
    with server.client() as c:
        assert c.get(server.jobs_path, headers=src).status_code == 202
    assert_throttled(login(server, "bob", source="10.0.3.1"), "address")
    # Sahara's routes answer in their own envelope, with the header too.
    with server.client("not-a-token-4") as c:
        sahara = c.get(f"/v1.1/{server.project_id}/job-executions", headers=src)
    assert sahara.status_code == 429 and sahara.json()["error_name"] == "TOO_MANY_REQUESTS"
    assert int(sahara.headers["retry-after"]) >= 1
    with server.client("not-a-token-5") as c:
        assert c.get(server.jobs_path).status_code == 401  # another address


def test_bad_signatures_count_against_the_access_key_and_the_source(
        server_factory: Callable[..., Server]) -> None:
    server = server_factory(**THROTTLED)
    path = server.jobs_path

    def get(source: str, **signing: str) -> httpx.Response:
        url, headers = sdk_signed(server, "GET", path, **signing)
        return httpx.get(url, headers={**headers, "X-Forwarded-For": source}, timeout=30)

    assert get("10.0.4.9").status_code == 202
    for i in (1, 2, 3):
        assert_error(get(f"10.0.4.{i}", secret_key="x" * 40), 401, "12000001",
                     "signature does not match")
    # The key is held up before its signature is checked, whoever signs and from where.
    assert_throttled(get("10.0.4.9"), "key")
    # Unknown keys from one address: the address is held up for failures.
    for i in range(3):
        assert_error(get("10.0.5.1", access_key=f"NOSUCHKEY{i}"), 401, "12000001",
                     "unknown access key")
    assert_throttled(get("10.0.5.1", access_key="NOSUCHKEY9"), "address")


# -- connections ----------------------------------------------------------------------


@contextlib.contextmanager
def fd_soft_limit(limit: int) -> Iterator[None]:
    """This process's soft limit of open files set to ``limit`` for the block (what a
    server started in it inherits)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < limit:
        pytest.skip(f"the open-files hard limit is {hard}")
    resource.setrlimit(resource.RLIMIT_NOFILE, (limit, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


@contextlib.contextmanager
def idle_sockets(server: Server, count: int) -> Iterator[list[socket.socket]]:
    """``count`` connections to the server that never send a byte; all closed after."""
    socks: list[socket.socket] = []
    with fd_soft_limit(max(count + 512, resource.getrlimit(resource.RLIMIT_NOFILE)[0])):
        try:
            for _ in range(count):
                socks.append(socket.create_connection(("127.0.0.1", server.port), timeout=10))
                socks[-1].setblocking(False)  # closed_by_peer looks without waiting
            yield socks
        finally:
            for s in socks:
                s.close()


def closed_by_peer(s: socket.socket) -> bool:
    try:
        return s.recv(1, socket.MSG_DONTWAIT | socket.MSG_PEEK) == b""
    except BlockingIOError:
        return False
    except OSError as exc:  # reset
        return exc.errno in (errno.ECONNRESET, errno.EPIPE)


def test_idle_sockets_neither_lock_clients_out_nor_stay_open(
        server_factory: Callable[..., Server]) -> None:
    # As started by a shell with the usual soft limit of 1,024 open files.
    with fd_soft_limit(1024):
        server = server_factory(**FAST, header_timeout_s="1")
    with idle_sockets(server, 1000) as socks:
        started = time.monotonic()
        with server.client() as c:
            c.timeout = httpx.Timeout(10)
            assert c.get(server.jobs_path).status_code == 202
        assert time.monotonic() - started < 5
        # Not one byte sent: each is closed a second after it connected.
        still_open = list(socks)

        def all_closed() -> bool:
            still_open[:] = [s for s in still_open if not closed_by_peer(s)]
            return not still_open

        wait_for(all_closed, timeout=20, interval=0.2, message="the idle sockets to be closed")
    # A client that starts a request head and never finishes it is closed too.
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as slow:
        slow.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")
        slow.setblocking(False)
        wait_for(lambda: closed_by_peer(slow), timeout=10, interval=0.1,
                 message="the half-sent request to be closed")


def test_connections_past_the_cap_are_closed_at_once(
        server_factory: Callable[..., Server]) -> None:
    server = server_factory(**FAST, max_connections="50", header_timeout_s="60")
    with idle_sockets(server, 80) as socks:
        # Long before the head timeout: the ones past the cap.
        wait_for(lambda: sum(closed_by_peer(s) for s in socks) >= 30, timeout=10,
                 interval=0.1, message="the connections past the cap to be closed")
        assert sum(closed_by_peer(s) for s in socks) <= 31
    with server.client() as c:  # freed as soon as they are gone
        resp = wait_for(lambda: _get(c, server.jobs_path), timeout=10, interval=0.1,
                        message="the service to answer again")
    assert resp.status_code == 202


def _get(c: httpx.Client, path: str) -> httpx.Response | None:
    try:
        return c.get(path)
    except httpx.TransportError:
        return None
