"""The file-area use cases: list, put and delete files in a cluster's "HDFS", checked
against the caller's project and role like the job use cases. No HTTP and no SQL."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

from ..domain.access import Identity
from ..domain.errors import InvalidParameter, PayloadTooLarge
from ..domain.paths import area_parts, hdfs_parts
from ..store import Cluster, Store
from ..store.filearea import FileArea, FileStatus
from .jobs import check_access


def parse_path(value: str) -> tuple[str, ...]:
    """The area components of ``/a/b`` or ``hdfs:///a/b``; InvalidParameter for the
    ``path`` field otherwise."""
    try:
        parts = hdfs_parts(value)
        return area_parts(value) if parts is None else parts
    except ValueError as exc:
        raise InvalidParameter("path", str(exc)) from None


def bounded(stream: Iterable[bytes] | bytes, limit: int) -> Iterator[bytes]:
    """``stream``'s chunks, failing with PayloadTooLarge once more than ``limit``
    bytes have come."""
    total = 0
    for chunk in [stream] if isinstance(stream, bytes) else stream:
        total += len(chunk)
        if total > limit:
            raise PayloadTooLarge(limit)
        yield chunk


class FileService:
    """``area_for`` says where a cluster's file area is and who owns what is made in
    it; ``max_upload_bytes`` bounds one put."""

    def __init__(self, store: Store, area_for: Callable[[Cluster], FileArea],
                 max_upload_bytes: int = 1 << 30) -> None:
        self.store = store
        self.area_for = area_for
        self.max_upload_bytes = max_upload_bytes

    def area(self, who: Identity, project_id: str, cluster_id: str, *,
             change: bool = False) -> FileArea:
        """The cluster's file area, if the caller may see (or ``change``) it."""
        check_access(who, project_id, change=change, what="files")
        return self.area_for(self.store.cluster(project_id, cluster_id))

    def list(self, who: Identity, project_id: str, cluster_id: str, path: str, *,
             offset: int = 1, limit: int = 100, sort_key: str = "path_suffix",
             order: str = "asc") -> tuple[int, list[FileStatus]]:
        area = self.area(who, project_id, cluster_id)
        return area.list(parse_path(path), offset, limit, sort_key, order)

    def put(self, who: Identity, project_id: str, cluster_id: str, path: str,
            stream: Iterable[bytes] | bytes) -> FileStatus:
        """Nothing is read from ``stream`` before the caller has been checked."""
        area = self.area(who, project_id, cluster_id, change=True)
        return area.put(parse_path(path), bounded(stream, self.max_upload_bytes))

    def delete(self, who: Identity, project_id: str, cluster_id: str, path: str) -> None:
        area = self.area(who, project_id, cluster_id, change=True)
        area.delete(parse_path(path))
