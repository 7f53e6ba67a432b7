"""Read-only ``snapshots/<sha>/`` trees and the ``current`` symlink swapped with rename.

A run pins the snapshot it started on; a snapshot is deleted only when it is neither
current nor pinned, so a push mid-run never mixes versions.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
import tempfile
import threading
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple


class Snapshot(NamedTuple):
    commit: str
    path: Path


def _make_read_only(root: Path) -> None:
    for directory, _dirs, files in os.walk(root):
        for name in files:
            path = Path(directory, name)
            if not path.is_symlink():
                path.chmod(path.stat().st_mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))
        Path(directory).chmod(0o555)


def _make_writable(root: Path) -> None:
    for directory, _dirs, _files in os.walk(root):
        Path(directory).chmod(0o755)


class SnapshotStore:
    """Owns ``<root>/snapshots`` and ``<root>/current``."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.snapshots = root / "snapshots"
        self.current_link = root / "current"
        self._pins: Counter[str] = Counter()
        self._lock = threading.Lock()

    def discard_scratch(self) -> None:
        """Remove half-built trees left by a crash; call before any publish starts."""
        if self.snapshots.is_dir():
            for entry in self.snapshots.glob(".tmp-*"):
                self._remove(entry)

    def current(self) -> Snapshot | None:
        """The published snapshot, restored from disk after a restart."""
        try:
            target = Path(os.readlink(self.current_link))
        except OSError:
            return None
        path = target if target.is_absolute() else self.root / target
        return Snapshot(path.name, path) if path.is_dir() else None

    def publish(self, commit: str, fill: Callable[[Path], None]) -> Snapshot:
        """Build the tree with ``fill`` in a scratch dir, then make it current atomically.

        The previous snapshot stays until :meth:`collect_garbage`, so that whoever hands
        snapshots out can switch to the new one before the old one goes.
        """
        self.snapshots.mkdir(parents=True, exist_ok=True)
        final = self.snapshots / commit
        if not final.is_dir():
            scratch = Path(tempfile.mkdtemp(prefix=f".tmp-{commit[:12]}-", dir=self.snapshots))
            try:
                fill(scratch)
                _make_read_only(scratch)
                scratch.rename(final)
            except BaseException:
                self._remove(scratch)
                raise
        link_tmp = self.root / f".current-{os.getpid()}-{threading.get_ident()}"
        with contextlib.suppress(FileNotFoundError):
            link_tmp.unlink()
        link_tmp.symlink_to(Path("snapshots") / commit)
        link_tmp.replace(self.current_link)
        return Snapshot(commit, final)

    def pin(self, snapshot: Snapshot) -> None:
        """Keep ``snapshot`` on disk until the matching :meth:`unpin`."""
        with self._lock:
            self._pins[snapshot.commit] += 1

    def unpin(self, snapshot: Snapshot) -> None:
        with self._lock:
            self._pins[snapshot.commit] -= 1
            if self._pins[snapshot.commit] > 0:
                return
            del self._pins[snapshot.commit]
        current = self.current()
        if current is None or current.commit != snapshot.commit:  # only then is there garbage
            self.collect_garbage()

    def collect_garbage(self) -> None:
        if not self.snapshots.is_dir():
            return
        current = self.current()
        with self._lock:
            keep = set(self._pins) | ({current.commit} if current else set())
            for entry in self.snapshots.iterdir():
                if entry.name not in keep and not entry.name.startswith(".tmp-"):
                    self._remove(entry)

    @staticmethod
    def _remove(path: Path) -> None:
        with contextlib.suppress(FileNotFoundError):
            _make_writable(path)
            shutil.rmtree(path)
