"""Several ``mrsjobs serve`` instances on one PostgreSQL database: they start at once on
a fresh database, and they share the server key their access keys are sealed with
(or one refuses to start, saying so)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from cryptography.fernet import Fernet

from mrsjobs.store import Store
from tests.databases import postgres_database
from tests.support.clients import sdk_signed
from tests.support.server import FAST, Server, new_server, stop_server
from tests.support.waiting import wait_for

pytestmark = pytest.mark.postgres


def serve(server: Server) -> subprocess.Popen[bytes]:
    """``mrsjobs serve`` alone: no admin command prepares its data directory first."""
    server.data_dir.mkdir(parents=True, exist_ok=True)
    with open(server.log, "ab") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "mrsjobs.cli", "serve", "--data-dir", str(server.data_dir),
             "--port", str(server.port), "--log-level", "warning"],
            env=server.env, stdout=log, stderr=log, start_new_session=True)


@pytest.mark.parametrize("round_", range(5))
def test_two_instances_started_at_once_on_a_fresh_database(tmp_path: Path,
                                                           round_: int) -> None:
    key = Fernet.generate_key().decode()
    with postgres_database() as url:
        servers = [new_server(tmp_path, i, database_url=url, secret_key=key, **FAST)
                   for i in range(2)]
        try:
            procs = [serve(s) for s in servers]  # the same instant, near enough
            for server, proc in zip(servers, procs, strict=True):
                server.proc = proc
                wait_for(server._ready, timeout=60, interval=0.05,
                         message=f"{server.data_dir.name} to listen")
            store = Store(url)
            try:
                [project] = store.project_ids()
                assert len(store.clusters(project)) == 1
            finally:
                store.close()
            for server in servers:
                server.project_id = project
        finally:
            for server in servers:
                stop_server(server)


def test_an_access_key_made_on_one_instance_works_on_the_other(
        server_factory: Callable[..., Server]) -> None:
    key = Fernet.generate_key().decode()
    with postgres_database() as url:
        first = server_factory(database_url=url, secret_key=key, **FAST)
        second = server_factory(database_url=url, secret_key=key, **FAST)
        try:
            for made_on, asked in ((first, second), (second, first)):
                address, headers = sdk_signed(asked, "GET", asked.jobs_path,
                                              access_key=made_on.access_key,
                                              secret_key=made_on.secret_key)
                resp = httpx.get(address, headers=headers)
                assert resp.status_code == 202, resp.text
        finally:
            first.stop()
            second.stop()


@pytest.mark.parametrize("keys", ["key files", "MRSJOBS_SECRET_KEY"])
def test_an_instance_with_another_server_key_refuses_to_start(
        server_factory: Callable[..., Server], tmp_path: Path, keys: str) -> None:
    def own_key() -> dict[str, str]:
        # Each instance's own key file, or a key of its own in the environment.
        return {} if keys == "key files" else {"secret_key": Fernet.generate_key().decode()}

    with postgres_database() as url:
        first = server_factory(database_url=url, **own_key(), **FAST)
        other = new_server(tmp_path, 9, database_url=url, **own_key(), **FAST)
        proc = serve(other)
        try:
            try:
                code = proc.wait(60)
            except subprocess.TimeoutExpired:
                pytest.fail(f"it started:\n{other.log.read_text()[-3000:]}")
            log = other.log.read_text()
            assert code != 0, log
            assert "server key" in log, log
            assert "set MRSJOBS_SECRET_KEY to the same key on every instance" in log, log
            # Its admin commands refuse as well: an access key made there would not work.
            with pytest.raises(subprocess.CalledProcessError) as refused:
                other.cli("access-key", "create", "--project", first.project_id,
                          "--user", "alice")
            assert "MRSJOBS_SECRET_KEY" in refused.value.stderr
            # The first instance serves on, its keys unaffected.
            with first.client() as c:
                assert c.get(first.jobs_path).status_code == 202
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(10)
            stop_server(other)
            first.stop()
