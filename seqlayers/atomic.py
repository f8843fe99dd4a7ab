"""Crash-safe writes: a file is either the old one or the complete new one, never a partial one.

The data goes to a temporary file in the same folder, is flushed and ``fsync``-ed, then moved
over the target with ``os.replace`` (atomic on POSIX and Windows); the folder is ``fsync``-ed so
the rename itself survives a power cut. Model files (``seqlayers.io.saving``), checkpoints and
backups (``seqlayers.training.checkpoint``) all write through ``atomic_write``.
"""
from __future__ import annotations

import errno
import os
import tempfile
from pathlib import Path
from typing import Callable, Union

Writer = Union[bytes, Callable[[str], None]]


def _file_mode() -> int:
    """The mode ``open()`` would give a new file: 0o666 less the process's umask (mkstemp gives 0o600)."""
    umask = os.umask(0o022)
    os.umask(umask)
    return 0o666 & ~umask


def atomic_write(path: str | os.PathLike, data: Writer, check: Callable[[str], None] | None = None) -> None:
    """Write ``data`` (bytes, or a function that writes a given temporary path) to ``path`` atomically.

    ``check(tmp)`` runs on the complete temporary file before it replaces ``path``; if it raises,
    ``path`` keeps its previous contents. An ``OSError`` (disk full, no permission, a folder in the
    way) is raised again with ``path`` in its message. The file gets the mode that ``open(path, "w")``
    would give it (0o644 under the usual umask 022)."""
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(errno.EISDIR, f"cannot write the file {str(path)!r}: it is a folder; remove it or "
                                f"write to another path", str(path))
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as e:
        raise _naming(e, path) from e
    try:
        if callable(data):
            os.close(fd)
            data(tmp)
            fd = os.open(tmp, os.O_RDWR)
            with os.fdopen(fd, "rb+") as f:
                os.fsync(f.fileno())
        else:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
        if check is not None:
            check(tmp)
        os.chmod(tmp, _file_mode())  # after the writer: some (safetensors' save_file) make their file 0o600
        os.replace(tmp, path)
    except BaseException as e:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        if isinstance(e, OSError) and str(path) not in str(e):
            raise _naming(e, path) from e
        raise
    fsync_dir(path.parent)


def _naming(e: OSError, path: Path) -> OSError:
    """The same kind of OSError, its message naming the file and what to do."""
    what = {errno.ENOSPC: "the disk is full; free some space or write elsewhere",
            errno.EDQUOT: "the disk quota is exceeded; free some space or write elsewhere",
            errno.EACCES: "permission denied; write to a folder you may write to",
            errno.EROFS: "the file system is read-only; write elsewhere"}.get(e.errno or -1, e.strerror or str(e))
    return type(e)(e.errno, f"cannot write {str(path)!r} ({what}); any previous file there is unchanged",
                   str(path))


def fsync_dir(folder: str | os.PathLike) -> None:
    """Make renames inside ``folder`` durable (a no-op where folders cannot be opened)."""
    try:
        dfd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
    except OSError:
        pass


__all__ = ["atomic_write", "fsync_dir"]
