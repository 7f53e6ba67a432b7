"""Unpack a ``git archive`` tar stream into a snapshot directory, bounded in size.

Standard library only, and no ``tarfile`` extraction filters: those arrived in a
3.11 point release, and the Python a distribution ships (Debian 12: 3.11.2) may lack
them. Each member is checked here instead: relative names only, directories and
regular files written by us, symlinks recorded as links (the symlink rule of
``repo.links`` decides later whether a hook behind one may run), nothing else.
"""

from __future__ import annotations

import os
import stat
import tarfile
from pathlib import Path, PurePosixPath
from typing import IO

CHUNK = 1 << 16


class UnpackError(Exception):
    """The archive cannot become a snapshot; the message names the member."""


class SnapshotTooLarge(UnpackError):
    """The commit unpacks to more than the configured bound."""


def too_large(size: int, limit: int) -> SnapshotTooLarge:
    return SnapshotTooLarge(
        f"unpacks to {size} bytes, over repo.max_snapshot_bytes ({limit} bytes)"
    )


def _member_path(target: Path, name: str) -> Path:
    parts = PurePosixPath(name).parts
    if not parts or PurePosixPath(name).is_absolute() or ".." in parts:
        raise UnpackError(f"{name!r}: not a path inside the tree")
    path = target.joinpath(*(part for part in parts if part != "."))
    parent = path.parent
    while parent != target:  # never write through a link: every parent is a real directory
        if parent.is_symlink():
            raise UnpackError(f"{name!r}: its directory {parent.name!r} is a symlink")
        parent = parent.parent
    return path


def _write_file(source: IO[bytes], path: Path, mode: int, budget: int, limit: int) -> int:
    """Copy one member; returns the budget left."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    handle = os.open(path, flags, 0o600)
    os.fchmod(handle, 0o755 if mode & stat.S_IXUSR else 0o644)  # as git has it, whatever umask
    with os.fdopen(handle, "wb") as out:
        while chunk := source.read(CHUNK):
            budget -= len(chunk)
            if budget < 0:
                raise too_large(limit - budget, limit)
            out.write(chunk)
    return budget


def unpack(archive: IO[bytes], target: Path, max_bytes: int) -> None:
    """Unpack ``archive`` (tar, read as a stream) into the existing directory ``target``."""
    budget = max_bytes
    try:
        with tarfile.open(fileobj=archive, mode="r|") as tar:
            for member in tar:
                path = _member_path(target, member.name)
                if member.isdir():
                    path.mkdir(parents=True, exist_ok=True)
                elif member.issym():
                    path.parent.mkdir(parents=True, exist_ok=True)
                    os.symlink(member.linkname, path)
                elif member.isfile():
                    if member.size > budget:
                        raise too_large(max_bytes - budget + member.size, max_bytes)
                    path.parent.mkdir(parents=True, exist_ok=True)
                    source = tar.extractfile(member)
                    if source is None:
                        raise UnpackError(f"{member.name!r}: no data")
                    budget = _write_file(source, path, member.mode, budget, max_bytes)
                else:
                    raise UnpackError(f"{member.name!r}: not a file, directory or symlink")
    except tarfile.TarError as exc:
        raise UnpackError(f"not a valid archive: {exc}") from None
    except FileExistsError as exc:
        raise UnpackError(f"{exc.filename}: appears twice in the archive") from None
