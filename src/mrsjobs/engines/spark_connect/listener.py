"""The SQL engine's listener that cancels the orphaned jobs of ended queries
(``java/EndedQueryJobs.java``, see there why): compiled once per source and Spark
version, into a directory of its own that the engine's sandbox reads.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import tempfile
import threading
from pathlib import Path

from .server import ServerError

SOURCE = Path(__file__).resolve().parent / "java" / "EndedQueryJobs.java"
#: The class ``spark.extraListeners`` names.
LISTENER = "mrsjobs.spark.EndedQueryJobs"
COMPILE_TIMEOUT_S = 180.0

_lock = threading.Lock()


def javac_of(java: str) -> str:
    """The compiler of the JDK whose ``java`` the service runs (else ``javac`` on PATH)."""
    found = shutil.which(java)
    if found is not None:
        beside = Path(found).resolve().parent / "javac"
        if beside.exists():
            return str(beside)
    return "javac"


def listener_classes(root: Path, spark_jars: Path, javac: str = "javac") -> Path:
    """The directory under ``root`` that holds the compiled listener; compiled if it is
    not there yet (once per service, and safely beside other services doing the same)."""
    core = sorted(p.name for p in spark_jars.glob("spark-core_*.jar"))
    digest = hashlib.sha256(SOURCE.read_bytes() + repr(core).encode()).hexdigest()[:16]
    target = root / f"listener-{digest}"
    with _lock:
        if target.is_dir():
            return target
        root.mkdir(parents=True, exist_ok=True)
        build = Path(tempfile.mkdtemp(prefix=".build-", dir=root))
        try:
            try:
                done = subprocess.run(
                    [javac, "--release", "17", "-d", str(build), "-cp", f"{spark_jars}/*",
                     str(SOURCE)], capture_output=True, text=True, timeout=COMPILE_TIMEOUT_S)
            except (OSError, subprocess.TimeoutExpired) as exc:
                raise ServerError(f"the SQL engine's listener cannot be compiled: {exc}") from exc
            if done.returncode != 0:
                raise ServerError("the SQL engine's listener did not compile:\n"
                                  + done.stderr.strip())
            # Read by the engine's own user, inside its sandbox.
            for path in (build, *build.rglob("*")):
                path.chmod(0o755 if path.is_dir() else 0o644)
            try:
                build.rename(target)
            except OSError:
                if not target.is_dir():  # else another service put it there first
                    raise
        finally:
            shutil.rmtree(build, ignore_errors=True)
    return target
