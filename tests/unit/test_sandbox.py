"""The sandbox's command line and the file area's paths in a job's arguments (no I/O
beyond the passwd files the sandbox writes)."""

from __future__ import annotations

from pathlib import Path

import pytest

from mrsjobs.containment.host import ContainmentUnavailable, open_containment
from mrsjobs.containment.sandbox import Confinement, Isolation, Sandbox
from mrsjobs.containment.tenants import Tenant, tenant_name
from mrsjobs.domain.paths import localize
from mrsjobs.settings import Settings

TENANT = Tenant("p1", tenant_name("p1"), 2001, 2002, tenant_name("p1"))


def mounts(argv: list[str]) -> list[tuple[str, str, str]]:
    """(option, source, dest) of each bind, in order."""
    found = []
    for i, arg in enumerate(argv):
        if arg in ("--bind", "--ro-bind"):
            found.append((arg, argv[i + 1], argv[i + 2]))
    return found


def test_the_runtime_is_read_only_and_the_run_writable(tmp_path: Path) -> None:
    box = Sandbox([Path("/usr"), Path("/opt/python")], tmp_path / "etc")
    work = Path("/data/runs/j1/work")
    argv = box.command(["spark-submit", "app.py"], Confinement(
        cwd=work, tenant=TENANT, read=[Path("/srv/shared")], write=[work],
        tmp=Path("/data/runs/j1/tmp")))
    binds = mounts(argv)
    assert ("--ro-bind", "/usr", "/usr") in binds
    assert ("--ro-bind", "/srv/shared", "/srv/shared") in binds
    assert ("--bind", str(work), str(work)) in binds
    assert ("--bind", "/data/runs/j1/tmp", "/tmp") in binds
    # Nothing else of the data directory is mounted.
    assert not [b for b in binds if b[2].startswith("/data") and b[2] != str(work)]
    # The service's passwd is never shown: one naming the project's user alone.
    passwd = next(src for opt, src, dest in binds if dest == "/etc/passwd")
    assert TENANT.user in Path(passwd).read_text()
    assert len(Path(passwd).read_text().splitlines()) == 3
    # It drops to the project's user, with no capabilities, before the job starts.
    tail = argv[argv.index("--", argv.index("--cap-add")):]
    assert tail[:5] == ["--", "setpriv", "--reuid", "2001", "--regid"]
    assert "--no-new-privs" in tail and tail[-2:] == ["spark-submit", "app.py"]


def test_parents_are_mounted_before_what_lies_inside_them(tmp_path: Path) -> None:
    box = Sandbox([Path("/usr")], tmp_path / "etc")
    argv = box.command(["true"], Confinement(
        cwd=Path("/tmp/x/work"), read=[Path("/tmp/x/roots/a")], write=[Path("/tmp/x/work")],
        tmp=Path("/tmp/x/tmp")))
    dests = [d for _, _, d in mounts(argv)]
    assert dests.index("/tmp") < dests.index("/tmp/x/roots/a")
    # The folders above a mount are made traversable (bubblewrap's own would be 0700).
    i = argv.index("/tmp/x/roots")
    assert argv[i - 3:i] == ["--perms", "0755", "--dir"]
    assert argv[-2:] == ["--", "true"]  # no tenant: nothing to drop to


@pytest.mark.parametrize(("arg", "local"), [
    ("hdfs:///apps/a.py", "/area/apps/a.py"),
    ("hdfs:///a.jar,hdfs:///b.jar", "/area/a.jar,/area/b.jar"),
    ("input=hdfs:///in", "input=/area/in"),
    ("hdfs:///", "/area"),
    ("plain", "plain"),
    ("hdfs://host/x", "hdfs://host/x"),
    ("hdfs:///a/../../etc", "hdfs:///a/../../etc"),
])
def test_file_area_paths_become_local_ones(arg: str, local: str) -> None:
    assert localize(arg, Path("/area")) == local


def test_isolation_on_refuses_a_host_that_cannot_contain_jobs(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no bwrap, no ip
    settings = Settings(data_dir=tmp_path / "data", isolation="on")
    with pytest.raises(ContainmentUnavailable, match="bubblewrap"):
        open_containment(settings)
    off = open_containment(settings.model_copy(update={"isolation": "auto"}))
    assert (off.isolation, off.per_project, off.sandbox) == (Isolation.OFF, False, None)
    assert off.command(["x"], Confinement(cwd=tmp_path)) == ["x"]
