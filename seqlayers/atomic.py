"""Crash-safe writes: a file is either the old one or the complete new one, never a partial one.

The data goes to a temporary file in the same folder, is flushed and ``fsync``-ed, then moved
over the target with ``os.replace`` (atomic on POSIX and Windows); the folder is ``fsync``-ed so
the rename itself survives a power cut. Model files (``seqlayers.io.saving``), checkpoints and
backups (``seqlayers.training.checkpoint``) all write through ``atomic_write``.
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Callable, Union

Writer = Union[bytes, Callable[[str], None]]


def atomic_write(path: str | os.PathLike, data: Writer) -> None:
    """Write ``data`` (bytes, or a function that writes a given temporary path) to ``path`` atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
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
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    fsync_dir(path.parent)


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
