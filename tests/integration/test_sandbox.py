"""The job sandbox with real bubblewrap, users and network namespaces (as root): what a
contained process sees, who it runs as, what it reaches, how a kill reaches it."""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from mrsjobs.containment.sandbox import Confinement, Sandbox, runtime_paths
from mrsjobs.containment.tenants import Tenant, Tenants, connects
from mrsjobs.engines.base import LaunchSpec
from mrsjobs.engines.local.engine import ProcessEngine
from tests.support.procs import kill_leftovers
from tests.support.waiting import wait_for

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("bwrap") is None,
    reason="needs root and bubblewrap (CI has both)")


@pytest.fixture
def tenant() -> Iterator[Tenant]:
    tenants = Tenants()
    project = f"test-{uuid.uuid4().hex}"
    yield tenants.get(project)
    tenants.remove(project)


@pytest.fixture
def sandbox(tmp_path: Path) -> Sandbox:
    return Sandbox(runtime_paths(), tmp_path / "etc")


def job_dirs(tmp_path: Path, tenant: Tenant) -> tuple[Path, Path]:
    work, tmp = tmp_path / "run" / "work", tmp_path / "run" / "tmp"
    for folder in (work, tmp):
        folder.mkdir(parents=True)
        os.chown(folder, tenant.uid, tenant.gid)
    return work, tmp


def contained(sandbox: Sandbox, tenant: Tenant, work: Path, tmp: Path, script: str,
              read: tuple[Path, ...] = ()) -> subprocess.CompletedProcess[str]:
    argv = ["nsenter", f"--net={tenant.netns_path}", "--", *sandbox.command(
        ["sh", "-c", script], Confinement(cwd=work, tenant=tenant, read=read, write=[work],
                                          tmp=tmp))]
    return subprocess.run(argv, capture_output=True, text=True, timeout=60,
                          env={"PATH": "/usr/bin:/bin", "SEEN": "yes"})


def test_a_contained_process_sees_only_what_it_is_given(sandbox: Sandbox, tenant: Tenant,
                                                        tmp_path: Path) -> None:
    secret = tmp_path / "secret"
    secret.write_text("the service's")
    shared = tmp_path / "shared"
    shared.mkdir()
    (shared / "data.txt").write_text("readable\n")
    work, tmp = job_dirs(tmp_path, tenant)
    done = contained(sandbox, tenant, work, tmp, f"""
        id -u; id -g; echo "$SEEN"
        cat {secret} 2>/dev/null || echo no-secret
        cat {shared}/data.txt
        echo x > {shared}/new 2>/dev/null || echo read-only
        echo mine > {work}/out && echo wrote-work
        echo t > /tmp/t && echo wrote-tmp
        ls /proc | grep -c '^[0-9]'
        grep -c . /etc/passwd
    """, read=(shared,))
    assert done.returncode == 0, done.stderr
    lines = done.stdout.split()
    assert lines[:3] == [str(tenant.uid), str(tenant.gid), "yes"]
    assert lines[3:] == ["no-secret", "readable", "read-only", "wrote-work", "wrote-tmp",
                         lines[8], "3"]
    # Its own processes only: sh, ls, grep (and bwrap's init).
    assert int(lines[8]) <= 5
    assert (work / "out").stat().st_uid == tenant.uid
    assert (tmp / "t").exists()


def test_a_contained_process_reaches_only_its_namespace(sandbox: Sandbox, tenant: Tenant,
                                                        tmp_path: Path) -> None:
    with socket.socket() as host_server:
        host_server.bind(("127.0.0.1", 0))
        host_server.listen()
        port = host_server.getsockname()[1]
        assert connects(None, "127.0.0.1", port)
        assert not connects(tenant.netns_path, "127.0.0.1", port)
        work, tmp = job_dirs(tmp_path, tenant)
        done = contained(sandbox, tenant, work, tmp, f"""
            python3 -c 'import socket; socket.create_connection(("127.0.0.1", {port}), 2)' \
                2>/dev/null && echo reached || echo refused
            ls /sys/class/net 2>/dev/null || ip -o link 2>/dev/null | wc -l
        """)
    assert done.stdout.split()[0] == "refused", done.stderr


def test_a_polite_kill_gives_a_contained_job_its_grace(sandbox: Sandbox, tenant: Tenant,
                                                       tmp_path: Path) -> None:
    """SIGTERM reaches the job and not the sandbox around it, which would otherwise die at
    once and take the job with it before its handler ran."""
    work, tmp = job_dirs(tmp_path, tenant)
    run_dir = tmp_path / "run"
    script = ("trap 'sleep 0.5; echo graceful; exit 0' TERM; echo up; "
              "sleep 300 & wait $!; wait $!")
    argv = sandbox.command(["bash", "-c", script],
                           Confinement(cwd=work, tenant=tenant, write=[work], tmp=tmp))
    spec = LaunchSpec("j1", tuple(argv), run_dir, work, {"PATH": "/usr/bin:/bin"},
                      netns=str(tenant.netns_path), sandboxed=True)

    async def scenario() -> str:
        engine = ProcessEngine()
        handle = await engine.launch(spec)
        wait_for(lambda: b"up" in (run_dir / "stdout.log").read_bytes(), message="job up")
        assert await engine.signal(handle, force=False)
        status = await asyncio.wait_for(engine.wait(handle), 30)
        await engine.close()
        assert status.exit_code == 0, status
        return (run_dir / "stdout.log").read_text()

    try:
        assert asyncio.run(scenario()).split() == ["up", "graceful"]
    finally:
        kill_leftovers(str(tmp_path))


def test_a_namespace_another_service_removed_is_made_again(tenant: Tenant) -> None:
    assert tenant.netns_path is not None
    mine, other = Tenants(), Tenants()  # two services on this host
    assert mine.get(tenant.project_id) == tenant
    # The other one stops while nothing runs in the project: it removes the namespace.
    other.get(tenant.project_id)
    other.release_idle()
    assert not tenant.netns_path.exists()
    # This service, which knew the project, uses it again: the namespace is back.
    assert mine.get(tenant.project_id) == tenant
    assert tenant.netns_path.exists()
