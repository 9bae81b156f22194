"""A cluster's file area: put, list, delete, make_dirs, copy_in, and that a symbolic
link planted in the area is never followed."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from mrsjobs.domain.access import Identity, Role
from mrsjobs.domain.errors import (
    AccessDenied,
    ClusterNotFound,
    FileListFailed,
    InvalidParameter,
    PayloadTooLarge,
)
from mrsjobs.service.files import FileService, parse_path
from mrsjobs.store import Cluster
from mrsjobs.store.filearea import BLOCK_SIZE, TEMP_PREFIX, FileArea


@pytest.fixture
def area(tmp_path: Path) -> FileArea:
    area = FileArea(tmp_path / "cluster" / "files")
    area.ensure()
    return area


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """Another project's directory, with a file that must stay untouched."""
    other = tmp_path / "other-project"
    other.mkdir()
    (other / "secret.txt").write_bytes(b"secret")
    return other


def names(area: FileArea, parts: tuple[str, ...] = (), **kw: str | int) -> list[str]:
    return [f.path_suffix for f in area.list(parts, **kw)[1]]


# -- paths --------------------------------------------------------------------------------


@pytest.mark.parametrize("path, parts", [
    ("/", ()), ("/a/b", ("a", "b")), ("/a/b/", ("a", "b")), ("hdfs:///a/b", ("a", "b")),
])
def test_paths(path: str, parts: tuple[str, ...]) -> None:
    assert parse_path(path) == parts


@pytest.mark.parametrize("path", ["a/b", "/a/../b", "/..", "/a//b", "/.hidden", "/a;b",
                                  "hdfs://host/a", "/x" + "y" * 255])
def test_bad_paths_are_refused_naming_the_field(path: str) -> None:
    with pytest.raises(InvalidParameter) as info:
        parse_path(path)
    assert info.value.field == "path"


def test_local_path_is_the_root_joined_with_parts(area: FileArea) -> None:
    assert area.local_path(("a", "b.txt")) == area.root / "a" / "b.txt"


# -- put, list, delete --------------------------------------------------------------------


def test_ensure_makes_a_private_root(area: FileArea) -> None:
    assert stat.S_IMODE(area.root.stat().st_mode) == 0o700
    area.ensure()  # idempotent
    assert area.list(()) == (0, [])


def test_put_then_list_shows_the_file(area: FileArea) -> None:
    status = area.put(("in", "data.txt"), [b"hello ", b"world"])
    assert (status.path_suffix, status.type, status.length) == ("data.txt", "FILE", 11)
    assert (status.replication, status.block_size, status.permission) == (1, BLOCK_SIZE, "640")
    assert (area.root / "in" / "data.txt").read_bytes() == b"hello world"
    total, found = area.list(())
    assert total == 1
    (d,) = found
    assert (d.path_suffix, d.type, d.children_num, d.length, d.replication) == (
        "in", "DIRECTORY", 1, 0, 0)
    assert d.permission == "750" and d.block_size == 0
    (f,) = area.list(("in",))[1]
    assert f.as_dict() == status.as_dict() | {"access_time": f.access_time}
    assert f.modification_time > 1_600_000_000_000  # milliseconds
    assert f.owner and f.group


def test_put_replaces_a_file_and_leaves_no_temporary(area: FileArea) -> None:
    area.put(("f",), b"one")
    area.put(("f",), b"two!")
    assert (area.root / "f").read_bytes() == b"two!"
    assert os.listdir(area.root) == ["f"]


def test_a_failed_put_leaves_the_old_file_and_no_half_file(area: FileArea) -> None:
    area.put(("f",), b"old")

    def broken() -> Iterator[bytes]:
        yield b"half"
        raise PayloadTooLarge(4)

    with pytest.raises(PayloadTooLarge):
        area.put(("f",), broken())
    with pytest.raises(PayloadTooLarge):
        area.put(("new",), broken())
    assert (area.root / "f").read_bytes() == b"old"
    assert os.listdir(area.root) == ["f"]


def test_put_refuses_to_overwrite_a_directory_or_the_root(area: FileArea) -> None:
    area.make_dirs(("d", "e"))
    with pytest.raises(InvalidParameter, match="is a directory"):
        area.put(("d",), b"x")
    with pytest.raises(InvalidParameter, match="root"):
        area.put((), b"x")
    area.put(("file",), b"x")
    with pytest.raises(InvalidParameter, match="not a directory"):
        area.put(("file", "below"), b"x")


def test_put_makes_the_area_if_missing(tmp_path: Path) -> None:
    area = FileArea(tmp_path / "fresh" / "files")
    assert area.list(()) == (0, [])  # an empty root, not made by a read
    assert not area.root.parent.exists()
    with pytest.raises(FileListFailed):
        area.list(("a",))
    area.put(("a",), b"x")
    assert stat.S_IMODE(area.root.stat().st_mode) == 0o700
    assert names(area) == ["a"]


def test_list_pages_and_sorts(area: FileArea) -> None:
    for name, size in (("b", 3), ("a", 1), ("c", 2)):
        area.put((name,), b"x" * size)
    os.utime(area.root / "c", ns=(0, 4 * 10**18))  # the newest (2096)
    assert names(area) == ["a", "b", "c"]
    assert names(area, order="desc") == ["c", "b", "a"]
    assert names(area, sort_key="length") == ["a", "c", "b"]
    assert names(area, sort_key="modification_time", order="desc")[0] == "c"
    assert names(area, limit=2) == ["a", "b"]
    assert area.list((), offset=2, limit=2)[0] == 3
    assert names(area, offset=2, limit=2) == ["c"]
    assert names(area, offset=3, limit=2) == []


@pytest.mark.parametrize("field, value", [("offset", 0), ("limit", 0), ("limit", 1001),
                                          ("sort_key", "name"), ("order", "up")])
def test_list_refuses_bad_values_naming_the_field(area: FileArea, field: str,
                                                  value: str | int) -> None:
    with pytest.raises(InvalidParameter) as info:
        area.list((), **{field: value})
    assert info.value.field == field


def test_list_of_a_missing_directory_or_a_file_fails(area: FileArea) -> None:
    area.put(("f",), b"x")
    with pytest.raises(FileListFailed) as info:
        area.list(("nope",))
    assert (info.value.status, info.value.code) == (404, "12000057")
    with pytest.raises(InvalidParameter, match="not a directory"):
        area.list(("f",))


def test_list_hides_uploads_in_progress(area: FileArea) -> None:
    (area.root / f"{TEMP_PREFIX}123").write_bytes(b"partial")
    assert area.list(()) == (0, [])


def test_delete_a_file_and_a_tree(area: FileArea) -> None:
    area.put(("f",), b"x")
    for i in range(3):
        area.put(("d", "e", f"g{i}"), b"x")
    area.make_dirs(("d", "empty", "deep", "deeper"))
    area.delete(("f",))
    area.delete(("d",))
    assert os.listdir(area.root) == []
    with pytest.raises(FileListFailed):
        area.delete(("d",))
    with pytest.raises(InvalidParameter, match="root"):
        area.delete(())
    assert area.root.is_dir()


def test_make_dirs_and_copy_in(area: FileArea, tmp_path: Path) -> None:
    area.make_dirs(("out", "logs"))
    area.make_dirs(("out", "logs"))  # like mkdir -p
    log = tmp_path / "stdout.log"
    log.write_bytes(b"line\n" * 1000)
    status = area.copy_in(log, ("out", "logs", "stdout.log"))
    assert status.length == 5000
    assert (area.root / "out" / "logs" / "stdout.log").read_bytes() == log.read_bytes()


@pytest.mark.skipif(os.geteuid() != 0, reason="chown needs root")
def test_what_is_made_belongs_to_the_owner(tmp_path: Path) -> None:
    area = FileArea(tmp_path / "files", owner=(65534, 65534))
    area.put(("d", "f"), b"x")
    area.make_dirs(("m",))
    for path in (area.root, area.root / "d", area.root / "d" / "f", area.root / "m"):
        st = path.stat()
        assert (st.st_uid, st.st_gid) == (65534, 65534), path


# -- symbolic links planted by a job ------------------------------------------------------


@pytest.fixture
def planted(area: FileArea, outside: Path) -> Path:
    """``/link`` -> the other project's directory, ``/file-link`` -> its file."""
    (area.root / "link").symlink_to(outside)
    (area.root / "file-link").symlink_to(outside / "secret.txt")
    return outside


def untouched(outside: Path) -> None:
    assert sorted(os.listdir(outside)) == ["secret.txt"]
    assert (outside / "secret.txt").read_bytes() == b"secret"


def test_put_through_a_link_fails(area: FileArea, planted: Path) -> None:
    for parts in (("link", "secret.txt"), ("link", "new.txt"), ("link", "sub", "new.txt"),
                  ("file-link",)):
        with pytest.raises(InvalidParameter, match="symbolic link"):
            area.put(parts, b"pwned")
    untouched(planted)


def test_list_through_a_link_fails(area: FileArea, planted: Path) -> None:
    with pytest.raises(InvalidParameter, match="symbolic link"):
        area.list(("link",))
    # Listed, the area itself shows no links (only files and directories).
    assert names(area) == []


def test_delete_through_a_link_fails_and_a_link_is_only_unlinked(area: FileArea,
                                                                 planted: Path) -> None:
    with pytest.raises(InvalidParameter, match="symbolic link"):
        area.delete(("link", "secret.txt"))
    area.make_dirs(("d",))
    (area.root / "d" / "inner").symlink_to(planted)
    area.delete(("d",))  # a tree with a link in it: the link goes, not its target
    area.delete(("link",))
    area.delete(("file-link",))
    assert os.listdir(area.root) == []
    untouched(planted)


def test_copy_in_and_make_dirs_through_a_link_fail(area: FileArea, planted: Path,
                                                   tmp_path: Path) -> None:
    log = tmp_path / "stdout.log"
    log.write_bytes(b"log")
    with pytest.raises(InvalidParameter, match="symbolic link"):
        area.copy_in(log, ("link", "secret.txt"))
    with pytest.raises(InvalidParameter, match="symbolic link"):
        area.make_dirs(("link", "x"))
    untouched(planted)


def test_a_root_that_is_a_link_is_refused(tmp_path: Path, outside: Path) -> None:
    (tmp_path / "files").symlink_to(outside)
    area = FileArea(tmp_path / "files")
    with pytest.raises(Exception, match="HDFS directory"):
        area.list(())
    with pytest.raises(Exception, match="HDFS directory"):
        area.put(("x",), b"x")
    untouched(outside)


# -- the use cases ------------------------------------------------------------------------


class OneCluster:
    """The store's cluster lookup: project p1 has cluster c1."""

    def cluster(self, project_id: str, cluster_id: str) -> Cluster:
        if (project_id, cluster_id) != ("p1", "c1"):
            raise ClusterNotFound()
        return Cluster("c1", "p1", "c1", frozenset())


@pytest.fixture
def files(tmp_path: Path) -> FileService:
    return FileService(OneCluster(), lambda c: FileArea(tmp_path / c.id / "files"),
                       max_upload_bytes=10)


def test_service_checks_project_role_and_cluster(files: FileService) -> None:
    alice, rita = Identity("p1", "alice"), Identity("p1", "rita", Role.READONLY)
    files.put(alice, "p1", "c1", "/a/f", b"12345")
    assert files.list(rita, "p1", "c1", "/a")[0] == 1
    for change in (lambda: files.put(rita, "p1", "c1", "/g", b"x"),
                   lambda: files.delete(rita, "p1", "c1", "/a/f")):
        with pytest.raises(AccessDenied, match="readonly role"):
            change()
    with pytest.raises(AccessDenied, match="not scoped"):
        files.list(Identity("p2", "eve"), "p1", "c1", "/")
    with pytest.raises(ClusterNotFound):
        files.list(alice, "p1", "c2", "/")
    with pytest.raises(PayloadTooLarge):
        files.put(alice, "p1", "c1", "/big", [b"x" * 6, b"x" * 6])
    assert files.list(alice, "p1", "c1", "/")[0] == 1
    files.delete(alice, "p1", "c1", "hdfs:///a")
    assert files.list(alice, "p1", "c1", "/")[0] == 0
