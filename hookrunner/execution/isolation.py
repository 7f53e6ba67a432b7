"""What stands between a hook and the daemon: account, sandbox and cgroup, probed once.

The daemon calls :func:`setup` at start and passes the result to every run it starts.
Without a daemon (``dry-run``) hooks run with ``Isolation()``: the account switch only.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hookrunner.execution.cgroups import CgroupTree
from hookrunner.execution.errors import IsolationUnavailable
from hookrunner.execution.sandbox import Sandbox
from hookrunner.execution.warm import WarmPool

SETPRIV = shutil.which("setpriv")


def _has_ambient_capabilities() -> bool:
    """Whether this process passes capabilities on to what it execs (the unit grants some)."""
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("CapAmb:"):
                return int(line.split()[1], 16) != 0
    return False


AMBIENT_CAPABILITIES = _has_ambient_capabilities()


def account(name: str) -> pwd.struct_passwd:
    try:
        return pwd.getpwnam(name)
    except KeyError:
        raise IsolationUnavailable(f"executor.user: no account named {name!r}") from None


def switch_prefix(user: pwd.struct_passwd | None) -> list[str] | None:
    """The ``setpriv`` command that starts the rest as ``user`` with no capabilities.

    Exec'ing it keeps the daemon's ``vfork`` start (Python's own ``user=`` forces a full
    fork). ``None``: no ``setpriv`` here, switch in the child instead. An empty list: there
    is nothing to switch or drop.
    """
    if user is None and not AMBIENT_CAPABILITIES:
        return []
    if SETPRIV is None:
        return None
    prefix = [SETPRIV, "--inh-caps=-all"]
    if user is not None:
        prefix += [f"--regid={user.pw_gid}", f"--reuid={user.pw_uid}", "--clear-groups"]
    return [*prefix, "--"]


class Isolation:
    """The sandbox and cgroup tree hooks run in, and what to say about what is missing."""

    def __init__(
        self,
        user: str = "",
        sandbox: Sandbox | None = None,
        cgroups: CgroupTree | None = None,
        warnings: Sequence[str] = (),
    ) -> None:
        self.user = user
        self.sandbox = sandbox
        self.cgroups = cgroups
        self.warnings = list(warnings)
        self.warm = WarmPool(cgroups, sandbox)  # the forking interpreters of warm mode

    def status(self) -> dict[str, Any]:
        return {
            "hook_user": self.user or None,
            "sandbox": "bwrap" if self.sandbox else "none",
            "cgroup": self.cgroups.enforced if self.cgroups else None,
            "warnings": self.warnings,
            "warm": self.warm.status(),
        }

    def close(self) -> None:
        self.warm.close()
        if self.sandbox is not None:
            self.sandbox.close()
        if self.cgroups is not None:
            self.cgroups.close()

    def reprobe(
        self, user: str, sandbox: str, cgroup: str, hidden: Sequence[Path], readable: Sequence[Path]
    ) -> Isolation:
        """The isolation new settings ask for (a reload), as :func:`setup` probes it, but
        keeping this one's cgroup tree and forking interpreters while run cgroups are
        wanted: setting the tree up again would kill the runs in it."""
        fresh = setup(user, sandbox, cgroup, hidden, readable, self.cgroups)
        if fresh.cgroups is not None and fresh.cgroups is self.cgroups:
            fresh.warm = self.warm
        return fresh


def setup(
    user: str,
    sandbox: str,
    cgroup: str,
    hidden: Sequence[Path],
    readable: Sequence[Path],
    running: CgroupTree | None = None,
) -> Isolation:
    """Probe what this host allows; :class:`IsolationUnavailable` when a required part is
    missing. ``hidden``: what a sandboxed hook must not see; ``readable``: shown again;
    ``running``: the cgroup tree in use, kept rather than set up again."""
    warnings = []
    hook_account = account(user) if user else None
    if hook_account is None:
        warnings.append("executor.user is empty: hooks run as the daemon's own user")
    elif hook_account.pw_uid == os.geteuid():
        warnings.append(f"executor.user {user!r} is the daemon's own user")

    box = None
    if sandbox != "none":
        prefix = switch_prefix(hook_account) or []
        try:
            box = Sandbox.setup(hidden, readable, prefix)
        except IsolationUnavailable as exc:
            if sandbox == "bwrap":
                raise IsolationUnavailable(f"executor.sandbox = bwrap: {exc}") from None
            warnings.append(f"no sandbox for hooks: {exc}")

    tree = None
    if cgroup != "off":
        try:
            tree = running or CgroupTree.setup()
        except IsolationUnavailable as exc:
            if cgroup == "required":
                raise IsolationUnavailable(f"executor.cgroup = required: {exc}") from None
            warnings.append(f"no cgroup per run, process-group cleanup only: {exc}")
        else:
            if tree.missing:
                names = "/".join(tree.missing)
                warnings.append(
                    f"run cgroups have no {names} controller here: that limit is rlimits only"
                )
    return Isolation(user, box, tree, warnings)
