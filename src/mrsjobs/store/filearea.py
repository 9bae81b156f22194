"""A cluster's file area, its "HDFS": list, put, delete, make directories, copy in.

Tenants' jobs write in the area too, so they may plant symbolic links in it that point
at other projects' files. Every operation therefore walks the path one component at a
time from a descriptor of the root (``openat`` with ``O_NOFOLLOW``), and a symbolic
link met anywhere on the way makes the operation fail: it is never followed. Final files
are opened with ``O_NOFOLLOW`` too, and deletes unlink by name relative to their
directory's descriptor. The area's paths are checked by :func:`jobfiles.area_parts`.
"""

from __future__ import annotations

import builtins
import contextlib
import errno
import grp
import os
import pwd
import secrets
import stat
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

from ..domain.errors import FileAccessFailed, FileListFailed, InvalidParameter, MrsError

DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
ROOT_MODE = 0o700
DIR_MODE = 0o750
FILE_MODE = 0o640
#: What HDFS's FileStatus shows for a file (one replica of 128 MiB blocks here).
BLOCK_SIZE = 134217728
#: In-progress uploads: renamed to their real name once complete, never listed.
TEMP_PREFIX = ".mrsjobs-put-"
CHUNK = 1 << 20

SortKey = Literal["path_suffix", "length", "modification_time"]
Order = Literal["asc", "desc"]
SORT_KEYS: tuple[SortKey, ...] = ("path_suffix", "length", "modification_time")
ORDERS: tuple[Order, ...] = ("asc", "desc")
MAX_LIMIT = 1000


@dataclass(frozen=True, slots=True)
class FileStatus:
    """One entry, as MRS's FileStatusV2 shows it (times in ms, permission in octal)."""

    path_suffix: str
    owner: str
    group: str
    permission: str
    replication: int
    block_size: int
    length: int
    type: str
    children_num: int
    access_time: int
    modification_time: int

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _user(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


def _group(gid: int) -> str:
    try:
        return grp.getgrgid(gid).gr_name
    except KeyError:
        return str(gid)


def file_status(name: str, st: os.stat_result, children: int = 0) -> FileStatus:
    is_dir = stat.S_ISDIR(st.st_mode)
    return FileStatus(
        path_suffix=name, owner=_user(st.st_uid), group=_group(st.st_gid),
        permission=format(stat.S_IMODE(st.st_mode) & 0o7777, "o"),
        replication=0 if is_dir else 1, block_size=0 if is_dir else BLOCK_SIZE,
        length=0 if is_dir else st.st_size, type="DIRECTORY" if is_dir else "FILE",
        children_num=children if is_dir else 0,
        access_time=st.st_atime_ns // 1_000_000, modification_time=st.st_mtime_ns // 1_000_000)


def _shown(parts: Sequence[str]) -> str:
    return "/" + "/".join(parts)


def _symlink(parts: Sequence[str]) -> InvalidParameter:
    return InvalidParameter("path", f"{_shown(parts)} is a symbolic link")


def _missing(parts: Sequence[str]) -> FileListFailed:
    return FileListFailed(f"Failed to obtain the file list: {_shown(parts)} does not exist.")


def _failed(parts: Sequence[str], exc: OSError) -> FileAccessFailed:
    return FileAccessFailed(f"Failed to access the HDFS directory: {_shown(parts)}: "
                            f"{exc.strerror or exc}.")


class FileArea:
    """The directory tree under ``root``; new directories and files belong to ``owner``
    (uid, gid) when given (the project's OS user when its jobs are contained)."""

    def __init__(self, root: Path, owner: tuple[int, int] | None = None) -> None:
        self.root = root
        self.owner = owner

    # -- the root -------------------------------------------------------------------

    def ensure(self) -> None:
        """Create the root (and its parents), mode 0700, owned by ``owner``."""
        self.root.parent.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(FileExistsError):
            os.mkdir(self.root, ROOT_MODE)
        try:
            fd = os.open(self.root, DIR_FLAGS)
        except OSError as exc:
            raise _failed((), exc) from None
        try:
            os.fchmod(fd, ROOT_MODE)
            self._own(fd)
        finally:
            os.close(fd)

    def local_path(self, parts: Sequence[str]) -> Path:
        """Where ``parts`` is on this host (no I/O; for a job's command line)."""
        return self.root.joinpath(*parts)

    # -- operations -----------------------------------------------------------------

    def list(self, parts: Sequence[str], offset: int = 1, limit: int = 100,
             sort_key: str = "path_suffix", order: str = "asc"
             ) -> tuple[int, list[FileStatus]]:
        """One page (``offset`` is the 1-based page number) of a directory's files and
        directories, and how many there are in all."""
        if offset < 1:
            raise InvalidParameter("offset", "must be 1 or more (the page number)")
        if not 1 <= limit <= MAX_LIMIT:
            raise InvalidParameter("limit", f"must be between 1 and {MAX_LIMIT}")
        if sort_key not in SORT_KEYS:
            raise InvalidParameter("sort_key", f"must be one of {', '.join(SORT_KEYS)}")
        if order not in ORDERS:
            raise InvalidParameter("order", "must be asc or desc")
        if not parts and not os.path.lexists(self.root):
            return 0, []  # a cluster's area before anything was put in it
        with self._dir(parts) as fd:
            found = self._entries(parts, fd)
        found.sort(key=lambda f: (getattr(f, sort_key), f.path_suffix),
                   reverse=order == "desc")
        start = (offset - 1) * limit
        return len(found), found[start:start + limit]

    def put(self, parts: Sequence[str], stream: Iterable[bytes] | bytes) -> FileStatus:
        """Store ``stream`` as the file ``parts`` (replacing a file, never a directory):
        written under a temporary name in the target directory and renamed into place."""
        if not parts:
            raise InvalidParameter("path", "must name a file, not the root")
        name = parts[-1]
        with self._dir(parts[:-1], create=True) as parent:
            self._check_target(parts, parent)
            temp = f"{TEMP_PREFIX}{secrets.token_hex(8)}"
            try:
                fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW
                             | os.O_CLOEXEC, FILE_MODE, dir_fd=parent)
            except OSError as exc:
                raise _failed(parts, exc) from None
            try:
                try:
                    with os.fdopen(fd, "wb", closefd=False) as out:
                        for chunk in [stream] if isinstance(stream, bytes) else stream:
                            out.write(chunk)
                    os.fchmod(fd, FILE_MODE)
                    self._own(fd)
                    os.fsync(fd)
                    os.rename(temp, name, src_dir_fd=parent, dst_dir_fd=parent)
                    return file_status(name, os.fstat(fd))
                finally:
                    os.close(fd)
            except BaseException as exc:
                with contextlib.suppress(OSError):
                    os.unlink(temp, dir_fd=parent)
                if isinstance(exc, IsADirectoryError):
                    raise InvalidParameter("path", f"{_shown(parts)} is a directory") from None
                if isinstance(exc, OSError):
                    raise _failed(parts, exc) from None
                raise

    def copy_in(self, src: Path, parts: Sequence[str]) -> FileStatus:
        """Copy a file of the service's own (a job's log, say) to ``parts``."""
        with open(src, "rb") as f:
            return self.put(parts, iter(lambda: f.read(CHUNK), b""))

    def read(self, parts: Sequence[str], max_bytes: int) -> bytes:
        """The content of the file ``parts`` (reached without following a link); more
        than ``max_bytes`` is refused."""
        if not parts:
            raise InvalidParameter("path", "must name a file, not the root")
        with self._dir(parts[:-1]) as parent:
            try:
                fd = os.open(parts[-1], os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC,
                             dir_fd=parent)
            except FileNotFoundError:
                raise _missing(parts) from None
            except OSError as exc:
                raise _failed(parts, exc) from None
            with os.fdopen(fd, "rb") as f:
                if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
                    raise InvalidParameter("path", f"{_shown(parts)} is not a file")
                data = f.read(max_bytes + 1)
        if len(data) > max_bytes:
            raise InvalidParameter("path", f"{_shown(parts)} is larger than {max_bytes} bytes")
        return data

    def make_dirs(self, parts: Sequence[str]) -> None:
        """``mkdir -p``: every missing directory is made, owned by ``owner``."""
        with self._dir(parts, create=True):
            pass

    def delete(self, parts: Sequence[str]) -> None:
        """Delete a file, or a directory and everything in it; a symbolic link is removed
        itself, never followed. The root cannot be deleted."""
        if not parts:
            raise InvalidParameter("path", "the root of the file area cannot be deleted")
        name = parts[-1]
        with self._dir(parts[:-1]) as parent:
            try:
                st = os.stat(name, dir_fd=parent, follow_symlinks=False)
                if stat.S_ISDIR(st.st_mode):
                    self._remove_tree(parts, parent, name)
                else:
                    os.unlink(name, dir_fd=parent)
            except FileNotFoundError:
                raise _missing(parts) from None
            except OSError as exc:
                raise _failed(parts, exc) from None

    # -- walking --------------------------------------------------------------------

    @contextlib.contextmanager
    def _dir(self, parts: Sequence[str], *, create: bool = False) -> Iterator[int]:
        """A descriptor of the directory ``parts``, reached without following a link
        (with ``create``, missing directories are made on the way)."""
        fd = self._open_root(create)
        try:
            for i, name in enumerate(parts):
                child = self._open_child(parts[:i + 1], fd, name, create)
                os.close(fd)
                fd = child
            yield fd
        finally:
            os.close(fd)

    def _open_root(self, create: bool) -> int:
        try:
            return os.open(self.root, DIR_FLAGS)
        except FileNotFoundError:
            pass
        except OSError as exc:
            raise _failed((), exc) from None
        if not create:
            raise _missing(())
        self.ensure()
        try:
            return os.open(self.root, DIR_FLAGS)
        except OSError as exc:
            raise _failed((), exc) from None

    def _open_child(self, parts: Sequence[str], parent: int, name: str, create: bool) -> int:
        try:
            return os.open(name, DIR_FLAGS, dir_fd=parent)
        except FileNotFoundError:
            if not create:
                raise _missing(parts) from None
        except OSError as exc:
            raise self._why_not_dir(parts, parent, name, exc) from None
        try:
            os.mkdir(name, DIR_MODE, dir_fd=parent)
        except FileExistsError:
            pass  # made meanwhile: opened (and checked) below like any other
        except OSError as exc:
            raise _failed(parts, exc) from None
        try:
            fd = os.open(name, DIR_FLAGS, dir_fd=parent)
        except OSError as exc:
            raise self._why_not_dir(parts, parent, name, exc) from None
        try:
            self._own(fd)
        except BaseException:
            os.close(fd)
            raise
        return fd

    def _why_not_dir(self, parts: Sequence[str], parent: int, name: str,
                     exc: OSError) -> MrsError:
        try:
            st = os.stat(name, dir_fd=parent, follow_symlinks=False)
        except FileNotFoundError:
            return _missing(parts)
        except OSError:
            return _failed(parts, exc)
        if stat.S_ISLNK(st.st_mode):
            return _symlink(parts)
        if exc.errno == errno.ENOTDIR:
            return InvalidParameter("path", f"{_shown(parts)} is not a directory")
        return _failed(parts, exc)

    def _check_target(self, parts: Sequence[str], parent: int) -> None:
        try:
            st = os.stat(parts[-1], dir_fd=parent, follow_symlinks=False)
        except FileNotFoundError:
            return
        except OSError as exc:
            raise _failed(parts, exc) from None
        if stat.S_ISLNK(st.st_mode):
            raise _symlink(parts)
        if stat.S_ISDIR(st.st_mode):
            raise InvalidParameter("path", f"{_shown(parts)} is a directory")

    def _entries(self, parts: Sequence[str], fd: int) -> builtins.list[FileStatus]:
        found: builtins.list[FileStatus] = []
        try:
            with os.scandir(fd) as it:
                for entry in it:
                    if entry.name.startswith(TEMP_PREFIX):
                        continue
                    with contextlib.suppress(FileNotFoundError):  # deleted meanwhile
                        st = entry.stat(follow_symlinks=False)
                        if stat.S_ISDIR(st.st_mode):
                            found.append(file_status(entry.name, st,
                                                     self._count(fd, entry.name)))
                        elif stat.S_ISREG(st.st_mode):
                            found.append(file_status(entry.name, st))
        except OSError as exc:
            raise _failed(parts, exc) from None
        return found

    @staticmethod
    def _count(parent: int, name: str) -> int:
        try:
            fd = os.open(name, DIR_FLAGS, dir_fd=parent)
        except OSError:
            return 0
        try:
            with os.scandir(fd) as it:
                return sum(1 for _ in it)
        finally:
            os.close(fd)

    def _remove_tree(self, parts: Sequence[str], parent: int, name: str) -> None:
        """``rm -r`` of the directory ``name`` in ``parent``, depth first without
        recursion, through descriptors only: a link inside is unlinked, not followed."""
        stack = [(self._open_child(parts, parent, name, False), parent, name)]
        try:
            while stack:
                fd, up, here = stack[-1]
                subdir = None
                with os.scandir(fd) as it:
                    for entry in it:
                        if entry.is_dir(follow_symlinks=False):
                            subdir = entry.name
                            break
                        with contextlib.suppress(FileNotFoundError):
                            os.unlink(entry.name, dir_fd=fd)
                if subdir is not None:
                    stack.append((self._open_child((*parts, subdir), fd, subdir, False),
                                  fd, subdir))
                    continue
                stack.pop()
                os.close(fd)
                os.rmdir(here, dir_fd=up)
        finally:
            for fd, _, _ in stack:
                os.close(fd)

    def _own(self, fd: int) -> None:
        if self.owner is not None:
            os.fchown(fd, *self.owner)
