"""The job sandbox: the command line that runs a process of a project contained.

A contained process sees a root of its own (bubblewrap) holding only the runtime,
read-only (``/usr``, a few files of ``/etc``, the Python, Spark and Java
installations, the operator's read roots), and what it may write (its run's work
directory, a private ``/tmp``, its cluster's file area); its own PID, IPC and UTS
namespaces; the environment it is given and nothing else. As root, the service also
runs it as the project's user, in the project's network namespace (see tenants.py):
bubblewrap sets up the mounts as root and ``setpriv`` drops to that user, with no
capabilities and ``no_new_privs``, before the job's own program starts.

Paths are mounted where they are on the host, so a command line built for the host
works unchanged inside; the directories above them are made world-traversable
inside (bubblewrap would make them 0700) and hold nothing else.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import TypeVar

from .tenants import Tenant

#: What of /etc a JVM, Python and the C library need; nothing that names other users.
ETC_FILES = ("alternatives", "ssl", "ca-certificates", "hosts", "nsswitch.conf", "host.conf",
             "ld.so.cache", "ld.so.conf", "ld.so.conf.d", "localtime", "timezone",
             "mime.types", "java-17-openjdk", "java-21-openjdk")
P = TypeVar("P", str, Path)

#: Top-level names that merged-/usr systems make links into /usr.
USR_LINKS = ("bin", "sbin", "lib", "lib32", "lib64", "libx32")


class Isolation(StrEnum):
    """How jobs are contained on this host."""

    #: Root: per-project users and network namespaces, and the sandbox.
    FULL = "full"
    #: Not root, but unprivileged user namespaces work: the sandbox alone (the
    #: network is the host's, so only one project's jobs may run).
    SANDBOX = "sandbox"
    #: Nothing contains jobs (or the operator said off).
    OFF = "off"


def detect(setting: str) -> tuple[Isolation, str]:
    """The isolation this host gives, and why, for ``MRSJOBS_ISOLATION`` = ``setting``."""
    if setting == "off":
        return Isolation.OFF, "MRSJOBS_ISOLATION=off"
    bwrap = shutil.which("bwrap")
    if bwrap is None:
        return Isolation.OFF, "bubblewrap (bwrap) is not installed"
    if os.geteuid() == 0:
        missing = [t for t in ("ip", "setpriv", "useradd") if shutil.which(t) is None]
        if missing:
            return Isolation.OFF, f"missing {', '.join(missing)}"
        return Isolation.FULL, "per-project users and network namespaces, bubblewrap"
    probe = subprocess.run([bwrap, "--ro-bind", "/", "/", "--unshare-pid", "true"],
                           capture_output=True, text=True, timeout=30, check=False)
    if probe.returncode != 0:
        return Isolation.OFF, f"bubblewrap cannot run here: {probe.stderr.strip()}"
    return Isolation.SANDBOX, "bubblewrap in an unprivileged user namespace (not root)"


@dataclass(frozen=True, slots=True)
class Confinement:
    """What one contained process may see besides the runtime."""

    cwd: Path
    tenant: Tenant | None = None
    read: Sequence[Path] = ()
    write: Sequence[Path] = ()
    #: Mounted at /tmp (writable); None: a fresh empty tmpfs.
    tmp: Path | None = None
    #: Killed when whoever started it dies (a job's shim); off for detached daemons.
    tied: bool = True


class Sandbox:
    """Builds bubblewrap command lines. ``runtime`` are the read-only trees every
    contained process gets; ``state_dir`` holds the sandbox's own /etc and the
    per-user passwd and group files.

    The parts every command shares are worked out once: a job's launch is a hot path.
    """

    def __init__(self, runtime: Sequence[Path], state_dir: Path, bwrap: str = "bwrap",
                 setpriv: str = "setpriv") -> None:
        self.bwrap = bwrap
        self.setpriv = setpriv
        self.state_dir = state_dir
        self._runtime = {str(p): ("--ro-bind", str(p)) for p in _outermost(runtime)}
        self._etc = _copy_etc(state_dir)
        self._links: list[str] = []
        for name in USR_LINKS:
            link = Path("/") / name
            if link.is_symlink():
                self._links += ["--symlink", os.readlink(link), str(link)]
        self._written: set[str] = set()
        self._lock = threading.Lock()

    def command(self, argv: Sequence[str], conf: Confinement) -> list[str]:
        # dest -> (option, source); parents are mounted before what lies inside them.
        mounts: dict[str, tuple[str, str | None]] = dict(self._runtime)
        for path in conf.read:
            mounts.setdefault(str(path), ("--ro-bind", str(path)))
        for path in conf.write:
            mounts[str(path)] = ("--bind", str(path))
        mounts = {p: mounts[p] for p in _outermost(mounts)}
        passwd, group = self._identity(conf.tenant)
        mounts["/etc"] = ("--ro-bind", str(self._etc))
        mounts["/etc/passwd"] = ("--ro-bind", str(passwd))
        mounts["/etc/group"] = ("--ro-bind", str(group))
        mounts["/tmp"] = ("--bind", str(conf.tmp)) if conf.tmp else ("--tmpfs", None)
        args = [self.bwrap, "--unshare-pid", "--unshare-ipc", "--unshare-uts",
                "--unshare-cgroup-try", "--hostname", "localhost", *self._links]
        if conf.tied:
            args.append("--die-with-parent")
        made = {""}
        same: list[str] = []  # trees mounted from the same host path
        for dest in sorted(mounts, key=lambda p: p.count("/")):
            option, source = mounts[dest]
            parent = ""
            for part in dest.split("/")[1:-1]:
                parent += "/" + part
                if parent not in made and not any(parent.startswith(m + "/") for m in same):
                    args += ["--perms", "0755", "--dir", parent]
                    made.add(parent)
            args += [option, dest] if source is None else [option, source, dest]
            made.add(dest)
            if source == dest:
                same.append(dest)
        args += ["--proc", "/proc", "--dev", "/dev", "--chdir", str(conf.cwd)]
        if conf.tenant is None:
            return [*args, "--", *argv]
        t = conf.tenant
        return [*args, "--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID", "--",
                self.setpriv, "--reuid", str(t.uid), "--regid", str(t.gid), "--clear-groups",
                "--no-new-privs", "--inh-caps=-all", "--bounding-set=-all", "--", *argv]

    def _identity(self, tenant: Tenant | None) -> tuple[Path, Path]:
        """passwd and group files naming root and the one user the process runs as:
        the JVM and Hadoop look the user up, and the host's files name every project."""
        if tenant is None:
            name, uid, gid = "mrsjobs", os.getuid(), os.getgid()
        else:
            name, uid, gid = tenant.user, tenant.uid, tenant.gid
        folder = self.state_dir / "users" / name
        passwd, group = folder / "passwd", folder / "group"
        with self._lock:  # a project's first jobs are prepared in parallel threads
            if name not in self._written:
                folder.mkdir(parents=True, exist_ok=True)
                _write(passwd, f"root:x:0:0:root:/root:/usr/sbin/nologin\n"
                               f"{name}:x:{uid}:{gid}:mrsjobs job:/tmp:/usr/sbin/nologin\n"
                               "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n")
                _write(group, f"root:x:0:\n{name}:x:{gid}:\nnogroup:x:65534:\n")
                self._written.add(name)
        return passwd, group


def _copy_etc(state_dir: Path) -> Path:
    """A copy of what of /etc a contained process needs, mounted as its /etc (one mount,
    not one per file). Named after what it copied: a host whose /etc changed gets a new
    copy, and a job still running keeps the one it started with."""
    found = [p for p in (Path("/etc") / n for n in ETC_FILES) if p.exists()]
    stamp = hashlib.sha256(repr([(p.name, p.lstat().st_mtime_ns) for p in found]).encode())
    target = state_dir / f"etc-{stamp.hexdigest()[:12]}"
    if (target / ".complete").exists():
        return target
    building = state_dir / f"{target.name}.{os.getpid()}.tmp"
    shutil.rmtree(building, ignore_errors=True)
    building.mkdir(parents=True)
    for path in found:
        if path.is_dir() and not path.is_symlink():
            shutil.copytree(path, building / path.name, symlinks=True)
        else:
            shutil.copy2(path, building / path.name, follow_symlinks=False)
    for name in ("passwd", "group"):  # mount points for the per-user files
        (building / name).touch()
    (building / ".complete").touch()
    for folder, _, _ in os.walk(building):
        os.chmod(folder, 0o755)
    building.chmod(0o755)
    try:
        building.rename(target)
    except OSError:  # made meanwhile by another instance
        shutil.rmtree(building, ignore_errors=True)
    return target


def runtime_paths(*extra: str | Path | None) -> list[Path]:
    """The read-only trees a job needs to run: /usr, this Python (its installation and
    its environment), and ``extra`` (Spark home, the Java installation, tools): each
    resolved, the ones inside another left out."""
    found = [Path("/usr"), Path(sys.base_prefix), Path(sys.prefix)]
    for item in extra:
        if item:
            found.append(Path(os.path.realpath(item)))
    for name in USR_LINKS:
        link = Path("/") / name
        if link.exists() and not link.is_symlink():
            found.append(link)
    return sorted(_outermost(p for p in found if p.exists()))


def java_home(java: str) -> Path | None:
    """The installation a ``java`` command belongs to (``.../bin/java`` -> ``...``)."""
    found = shutil.which(java)
    return Path(os.path.realpath(found)).parent.parent if found else None


def _outermost(paths: Iterable[P]) -> set[P]:
    unique = {str(p): p for p in paths}
    return {p for s, p in unique.items()
            if not any(s.startswith(q + "/") for q in unique if q != "/")}


def _write(path: Path, text: str) -> None:
    # Instances on one host may write the same file: each its own temporary name.
    tmp = path.with_name(f"{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    tmp.write_text(text)
    tmp.chmod(0o644)
    tmp.replace(path)
