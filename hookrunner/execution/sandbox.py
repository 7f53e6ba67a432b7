"""bubblewrap around a hook: its own mount, PID, IPC and user namespaces.

The hook sees the host's file system read-only, a private ``/tmp``, its own ``/proc``
(only its own processes: not the daemon, not other hooks), and none of what is private to
the daemon: the state directory (journal, clone, git credentials) and the config,
tokens and credential files are covered by empty mounts. The snapshots are mounted back
read-only, and a run's private files (payload, flow result) are mounted back writable.
All capabilities are dropped, and the hook cannot make user namespaces of its own, so it
cannot undo any of these mounts, even when it runs as root.

A warm run (DESIGN §5, warm mode) forks from an interpreter started in the same sandbox,
which keeps the capabilities of its user namespace that it takes to give each run mount,
PID and IPC namespaces of its own (``forkserver.py``): the empty mounts are read-only, so
that every part the runs share is; what each run gets afresh is :meth:`Sandbox.run_layout`.
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hookrunner.execution.errors import IsolationUnavailable

BWRAP = shutil.which("bwrap")
# hookrunner's own package: the harness, the sym tree and the channel client hooks run.
PACKAGE_DIR = Path(__file__).resolve().parent.parent
COVERED = Path("/tmp")  # the one host directory the sandbox covers with its own
NAMESPACES = ("--unshare-user", "--unshare-pid", "--unshare-ipc", "--new-session")
HOOK = ("--disable-userns", "--cap-drop", "ALL", "--die-with-parent")
# The forking interpreter: what it takes to give each run its own namespaces (unshare and
# mount), to turn off user namespaces in the sandbox, and to empty the bounding set. Each
# run's process drops all of them before the hook runs. It must stay in one user namespace
# (bubblewrap's own mounts and PID namespace belong to it, so each run may mount its own
# /proc and devpts over them): no --disable-userns, and --dev replaced by the same nodes
# (for an account other than root, --dev makes a second user namespace to mount devpts).
# No --die-with-parent either: its parent is the daemon thread that started it, not the
# daemon (it exits by itself when the daemon hangs up).
SERVER = ("--cap-drop", "ALL", "--cap-add", "CAP_SYS_ADMIN", "--cap-add", "CAP_SYS_RESOURCE",
          "--cap-add", "CAP_SETPCAP")  # fmt: skip
DEV = ("--dev", "/dev")
SERVER_DEV = (
    "--tmpfs", "/dev",
    *(arg for node in ("null", "zero", "full", "random", "urandom", "tty")
      for arg in ("--dev-bind", f"/dev/{node}", f"/dev/{node}")),
    "--dir", "/dev/shm", "--dir", "/dev/pts", "--symlink", "pts/ptmx", "/dev/ptmx",
    "--symlink", "/proc/self/fd", "/dev/fd", "--symlink", "/proc/kcore", "/dev/core",
    *(arg for fd, name in enumerate(("stdin", "stdout", "stderr"))
      for arg in ("--symlink", f"/proc/self/fd/{fd}", f"/dev/{name}")),
)  # fmt: skip


class Sandbox:
    """How to wrap a hook's argv in bubblewrap on this host."""

    def __init__(self, bwrap: str, hidden: Sequence[Path], readable: Sequence[Path]) -> None:
        self.bwrap = bwrap
        self.hidden = list(hidden)
        self.readable = list(readable)
        self._files: Path | None = None

    @classmethod
    def setup(
        cls, hidden: Sequence[Path], readable: Sequence[Path], probe_prefix: Sequence[str] = ()
    ) -> Sandbox:
        """A sandbox that was seen to work here, run through ``probe_prefix`` (the account
        switch), or :class:`IsolationUnavailable` with bubblewrap's own complaint."""
        if BWRAP is None:
            raise IsolationUnavailable("bubblewrap (bwrap) is not installed")
        sandbox = cls(BWRAP, hidden, readable)
        true = shutil.which("true") or "/bin/true"
        argv = [*probe_prefix, *sandbox.wrap([true], Path("/"), None)]
        try:
            probe = subprocess.run(argv, capture_output=True, timeout=30, check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise IsolationUnavailable(f"bwrap does not start: {exc}") from None
        if probe.returncode != 0:
            reason = probe.stderr.decode(errors="replace").strip().splitlines()
            raise IsolationUnavailable(f"bwrap does not work here: {' '.join(reason[-1:])}")
        return sandbox

    def wrap(self, argv: Sequence[str], cwd: Path, private_dir: Path | None) -> list[str]:
        """A spawned hook's command: bubblewrap, then ``argv``."""
        layout = self._layout(DEV, private_dir)
        return [self.bwrap, *NAMESPACES, *HOOK, *layout, "--chdir", str(cwd), "--", *argv]

    def wrap_server(self, argv: Sequence[str]) -> list[str]:
        """A forking interpreter's command: the runs' layout with every run's private
        directory (the forked child covers all but its own), and the capabilities above."""
        layout = self._layout(SERVER_DEV, self.files_dir())
        return [self.bwrap, *NAMESPACES, *SERVER, *layout, "--chdir", "/", "--", *argv]

    def _layout(self, dev: Sequence[str], private_dir: Path | None) -> list[str]:
        args = ["--ro-bind", "/", "/", *dev, "--proc", "/proc", "--tmpfs", "/tmp"]
        covers = []
        for path in self.hidden:
            if path.is_dir():
                args += ["--tmpfs", str(path)]
                covers.append(str(path))
            elif path.exists():
                args += ["--ro-bind", "/dev/null", str(path)]
        for path in self.shown():
            args += ["--ro-bind", str(path), str(path)]
        if private_dir is not None:
            args += ["--bind", str(private_dir), str(private_dir)]
        for cover in covers:  # after the binds, whose mount points are made in them
            args += ["--remount-ro", cover]
        return args

    def shown(self) -> list[Path]:
        """What the sandbox shows again read-only: the readable directories that exist now,
        and hookrunner's own code where the sandbox covers it."""
        return [path for path in [*self.readable, *_code_paths()] if path.is_dir()]

    def run_layout(self, private_dir: Path | None) -> dict[str, Any]:
        """What a forked run gets afresh: empty directories over ``/tmp`` and the runs'
        files, with what the sandbox showed under them shown again, and its own files."""
        covers = [COVERED]
        files = self.files_dir()
        if not files.is_relative_to(COVERED):
            covers.append(files)
        keep = [path for path in self.shown() if any(path.is_relative_to(c) for c in covers)]
        if private_dir is not None:
            keep.append(private_dir)
        return {"cover": [str(path) for path in covers], "keep": [str(path) for path in keep]}

    def files_dir(self) -> Path:
        """Where the runs' private directories are made: one directory that a forking
        interpreter's sandbox shows whole, and that each of its runs covers but for its own."""
        if self._files is None:
            self._files = Path(tempfile.mkdtemp(prefix="hookrunner-files-"))
            self._files.chmod(0o711)  # the hook account passes through to its own
        return self._files

    def close(self) -> None:
        if self._files is not None:
            with contextlib.suppress(OSError):
                self._files.rmdir()


def _code_paths() -> list[Path]:
    """What hooks execute from outside their snapshot (hookrunner's package and the
    interpreter's prefixes), shown again when it lives under the covered ``/tmp``."""
    candidates = {PACKAGE_DIR, Path(sys.prefix).resolve(), Path(sys.base_prefix).resolve()}
    return sorted(path for path in candidates if path.is_relative_to(COVERED))
