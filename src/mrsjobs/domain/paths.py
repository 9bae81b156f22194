"""Where a job's files may come from: a cluster's file area (``hdfs:///...``) or a
read-only root an operator lists. Pure path rules, no I/O: the sandbox is what
enforces them; these give the user a clear error at submit.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import PurePath, PurePosixPath

#: A path in the cluster's file area, as MRS users write it.
HDFS_SCHEME = "hdfs://"
#: What the file routes refuse in a name (the reference's rule for V2-10 paths).
NAME_FORBIDDEN = frozenset(':*?"<>|\\;&,\'`!{}[]$%+')
MAX_NAME_BYTES = 255


def area_parts(path: str) -> tuple[str, ...]:
    """``/a/b`` -> ``("a", "b")``: the components of a path in a file area.

    Raises ValueError with the reason when a component is empty (``//`` inside),
    ``.`` or ``..`` (nothing ever escapes the area), starts or ends with ``.``, holds
    a forbidden character or a NUL, or is longer than 255 bytes. ``/`` is the root.
    """
    if not path.startswith("/"):
        raise ValueError("must be an absolute path (/dir/name)")
    parts = tuple(p for p in path.split("/")[1:])
    if parts and parts[-1] == "":
        parts = parts[:-1]  # a trailing slash names the same directory
    for part in parts:
        if not part:
            raise ValueError("must not contain an empty component (//)")
        if part in (".", ".."):
            raise ValueError(f"must not contain {part!r}")
        if part.startswith(".") or part.endswith("."):
            raise ValueError(f"{part!r} must not start or end with '.'")
        bad = NAME_FORBIDDEN & set(part)
        if bad or "\0" in part or "\n" in part:
            shown = "".join(sorted(bad)) or "control characters"
            raise ValueError(f"{part!r} must not contain any of {shown!r}")
        if len(part.encode("utf-8", "surrogatepass")) > MAX_NAME_BYTES:
            raise ValueError(f"a component is longer than {MAX_NAME_BYTES} bytes")
    return parts


def hdfs_parts(value: str) -> tuple[str, ...] | None:
    """The area components of ``hdfs:///a/b`` (None if ``value`` is no hdfs URI).

    Only the cluster's own file system is named: ``hdfs://host/...`` is refused.
    """
    if not value.startswith(HDFS_SCHEME):
        return None
    rest = value[len(HDFS_SCHEME):]
    if not rest.startswith("/"):
        raise ValueError("must be hdfs:///path (the cluster's own file area, no host)")
    return area_parts(rest)


def under_root(value: str, roots: Sequence[PurePosixPath]) -> PurePosixPath | None:
    """``value`` as an absolute local path inside one of ``roots`` (lexically, with no
    ``..`` anywhere), or None if it is not. A ``%`` is refused too: Spark reads the
    path as a URI, and ``%2e%2e`` would be ``..`` by then."""
    path = value.removeprefix("file://")
    if not path.startswith("/") or "\0" in path or "%" in path:
        return None
    pure = PurePosixPath(path)
    if ".." in pure.parts:
        return None
    for root in roots:
        if pure == root or root in pure.parents:
            return pure
    return None


def localize(arg: str, area_root: PurePath, *, strict: bool = False) -> str:
    """``arg`` with each ``hdfs:///path`` in it made the path in the cluster's file area
    (under ``area_root``) that it names: the whole argument, each item of a
    comma-separated list, or the value of a ``key=hdfs:///path`` item.

    A malformed ``hdfs:`` item is left as it is (submit refused it where it is a path,
    so elsewhere it names nothing), or, with ``strict``, raises ValueError.
    """
    if "hdfs://" not in arg:
        return arg
    return ",".join(_localize_item(item, area_root, strict) for item in arg.split(","))


def _localize_item(item: str, area_root: PurePath, strict: bool) -> str:
    key, sep, value = item.rpartition("=") if not item.startswith("hdfs://") else ("", "", item)
    try:
        parts = hdfs_parts(value)
    except ValueError as exc:
        if strict:
            raise ValueError(f"{value!r}: {exc}") from None
        parts = None
    return item if parts is None else key + sep + str(area_root.joinpath(*parts))
