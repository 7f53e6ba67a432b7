"""bubblewrap around a hook: its own mount, PID, IPC and user namespaces.

The hook sees the host's file system read-only, a private ``/tmp``, its own ``/proc``
(only its own processes: not the daemon, not other hooks), and none of what is private to
the daemon: the state directory (journal, clone, git credentials) and the config,
tokens and credential files are covered by empty mounts. The snapshots are mounted back
read-only, and a run's private files (payload, flow result) are mounted back writable.
All capabilities are dropped, and the hook cannot make user namespaces of its own, so it
cannot undo any of these mounts, even when it runs as root.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from hookrunner.execution.errors import IsolationUnavailable

BWRAP = shutil.which("bwrap")
# hookrunner's own package: the harness, the sym tree and the channel client hooks run.
PACKAGE_DIR = Path(__file__).resolve().parent.parent
COVERED = Path("/tmp")  # the one host directory the sandbox covers with its own
NAMESPACES = (
    "--unshare-user", "--disable-userns", "--unshare-pid", "--unshare-ipc",
    "--cap-drop", "ALL", "--die-with-parent", "--new-session",
)  # fmt: skip


class Sandbox:
    """How to wrap a hook's argv in bubblewrap on this host."""

    def __init__(self, bwrap: str, hidden: Sequence[Path], readable: Sequence[Path]) -> None:
        self.bwrap = bwrap
        self.hidden = list(hidden)
        self.readable = list(readable)

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
        args = [self.bwrap, *NAMESPACES, "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc"]
        args += ["--tmpfs", "/tmp"]
        for path in self.hidden:
            if path.is_dir():
                args += ["--tmpfs", str(path)]
            elif path.exists():
                args += ["--ro-bind", "/dev/null", str(path)]
        for path in [*self.readable, *_code_paths()]:
            if path.is_dir():
                args += ["--ro-bind", str(path), str(path)]
        if private_dir is not None:
            args += ["--bind", str(private_dir), str(private_dir)]
        return [*args, "--chdir", str(cwd), "--", *argv]


def _code_paths() -> list[Path]:
    """What hooks execute from outside their snapshot (hookrunner's package and the
    interpreter's prefixes), shown again when it lives under the covered ``/tmp``."""
    candidates = {PACKAGE_DIR, Path(sys.prefix).resolve(), Path(sys.base_prefix).resolve()}
    return sorted(path for path in candidates if path.is_relative_to(COVERED))
