"""A cgroup v2 leaf per run: ``cgroup.kill`` ends everything the hook started.

The daemon finds its own cgroup v2 directory (``0::`` in ``/proc/self/cgroup``, under the
``cgroup2`` mount in ``/proc/self/mountinfo``) and makes a parent for the run leaves in
it. Under systemd with ``Delegate=yes`` it first moves itself into a ``daemon`` leaf, so
that the memory and pids controllers may be enabled below the service's cgroup (cgroup v2
allows no processes in a cgroup that hands controllers to its children).

On a hybrid host the v2 tree (often ``/sys/fs/cgroup/unified``) has no memory or pids
controller: they belong to cgroup v1. The v2 leaf still gives ``cgroup.kill`` and the CPU
time; where the daemon may write to its v1 memory and pids cgroups, each run also gets a
v1 leaf there for the limit and the peak. Whatever is missing is left to the rlimits, and
:attr:`CgroupTree.enforced` says which limits the cgroups hold.

A hook enters its leaves before it runs any of its own code: the launch chain starts with
``/bin/sh`` writing ``0`` (itself) into each leaf and then exec'ing the rest
(:meth:`RunCgroup.enter`), which keeps the daemon's fast ``vfork`` start.

A process that enters a leaf is single-threaded (that shell, or a child just forked from a
warm interpreter), so in the v1 hierarchies it enters through ``tasks``: moving its one
thread there is moving the process. A write to ``cgroup.procs`` takes the kernel's global
``cgroup_threadgroup_rwsem`` for writing, which waits out an RCU grace period (about 10 ms
here) whenever no move came just before; moving only the writing thread takes no such
lock (Linux 5.18+; older kernels take it either way).
"""

from __future__ import annotations

import contextlib
import errno
import os
import threading
import time
import uuid
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import NamedTuple

from hookrunner.execution.errors import IsolationUnavailable
from hookrunner.execution.limits import Limits

# The first link of the launch chain: write 0 (itself) into each file named
# before "--", then exec the rest; a hook that cannot be contained does not start.
ENTER = (
    'while [ "$1" != -- ]; do echo 0 2>/dev/null >"$1" || {'
    ' echo "hookrunner: cannot enter the run cgroup $1" >&2; exit 126; }; shift; done;'
    ' shift; exec "$@"'
)
SHELL = "/bin/sh"
CONTROLLERS = ("memory", "pids")
RUNS_PREFIX = "hookrunner-runs-"
# Limit file and peak file of each controller, in cgroup v2 and in v1.
V2_FILES = {"memory": ("memory.max", "memory.peak"), "pids": ("pids.max", "")}
V1_FILES = {"memory": ("memory.limit_in_bytes", "memory.max_usage_in_bytes"),
            "pids": ("pids.max", "")}  # fmt: skip
# How long a killed leaf may take to empty before it is left for the next start to remove.
EMPTY_WAIT = 5.0
# Run leaves made ahead of need, per set of limits (see :meth:`CgroupTree.leaf`).
SPARE_LEAVES = 4


class Hierarchies(NamedTuple):
    """This process's own directory in the cgroup v2 tree and in each v1 controller's."""

    v2: Path | None
    v1: dict[str, Path]


def _inside(mount: Path, root: str, path: str) -> Path | None:
    """Where cgroup ``path`` is, for a mount of the hierarchy's ``root`` at ``mount``."""
    try:
        return mount / Path(path).relative_to(root)
    except ValueError:
        return None


def hierarchies(mountinfo: str, proc_cgroup: str) -> Hierarchies:
    v2_mount: tuple[Path, str] | None = None
    v1_mounts: dict[str, tuple[Path, str]] = {}
    for line in mountinfo.splitlines():
        left, _, right = line.partition(" - ")
        fields, kind = left.split(" "), right.split(" ")
        if len(fields) < 5 or len(kind) < 3:
            continue
        mount = (Path(fields[4]), fields[3])
        if kind[0] == "cgroup2" and v2_mount is None:
            v2_mount = mount
        elif kind[0] == "cgroup":
            for option in kind[2].split(","):
                if option in CONTROLLERS:
                    v1_mounts[option] = mount
    v2, v1 = None, {}
    for line in proc_cgroup.splitlines():
        _id, names, path = line.split(":", 2)
        if names == "" and v2_mount is not None:
            v2 = _inside(*v2_mount, path)
        for name in names.split(","):
            directory = _inside(*v1_mounts[name], path) if name in v1_mounts else None
            if directory is not None:
                v1[name] = directory
    return Hierarchies(v2, v1)


def _write(path: Path, value: str) -> None:
    fd = os.open(path, os.O_WRONLY)
    try:
        os.write(fd, value.encode())
    finally:
        os.close(fd)


def _controllers(directory: Path) -> set[str]:
    try:
        return set((directory / "cgroup.controllers").read_text().split())
    except OSError:
        return set()


def _enable(directory: Path, wanted: set[str]) -> set[str]:
    """Enable what it can of ``wanted`` for ``directory``'s children; return what is on."""
    enabled = set()
    for name in sorted(wanted & _controllers(directory)):
        with contextlib.suppress(OSError):
            _write(directory / "cgroup.subtree_control", f"+{name}")
            enabled.add(name)
    return enabled


def _remove_abandoned(base: Path) -> None:
    """Outside a delegated cgroup, several daemons share ``base``: remove the run parents
    of those that are gone (killed without a chance to clean up), and what they left."""
    for parent in base.glob(f"{RUNS_PREFIX}*"):
        pid = parent.name.removeprefix(RUNS_PREFIX)
        if pid.isdigit() and not Path(f"/proc/{pid}").exists():
            CgroupTree(parent, frozenset()).close()


def _runs_parent(base: Path, delegated: bool) -> Path:
    if not delegated:
        _remove_abandoned(base)
    runs = base / ("runs" if delegated else f"{RUNS_PREFIX}{os.getpid()}")
    runs.mkdir(exist_ok=True)
    return runs


def _v1_parents(own: Mapping[str, Path], wanted: set[str]) -> dict[str, Path]:
    """Run parents in the v1 hierarchies of ``wanted``, where this process may write."""
    parents = {}
    for name in sorted(wanted):
        if name in own and os.access(own[name], os.W_OK):
            with contextlib.suppress(OSError):
                parents[name] = _runs_parent(own[name], delegated=False)
    return parents


class Usage(NamedTuple):
    """What a run's cgroup measured; ``None`` where the kernel does not account it."""

    peak_memory_bytes: int | None
    cpu_s: float | None


class CgroupTree:
    """The parents of this daemon's run leaves, and which limits the leaves enforce.

    Several trees of one process share the same run parents (a reload's probe, a dry-run
    beside the daemon, tests): only the first to open them clears what a dead process
    left there, and only the last to close them removes the leaves left in them."""

    _users: Counter[Path] = Counter()
    _users_lock = threading.Lock()

    def __init__(
        self, runs: Path, controllers: frozenset[str], v1: Mapping[str, Path] | None = None
    ) -> None:
        self.runs = runs
        self.controllers = controllers  # enabled for the v2 leaves
        self.v1 = dict(v1 or {})  # controller -> v1 run parent, for those v2 lacks
        self._spares: dict[Limits | None, list[RunCgroup]] = {}
        self._spares_lock = threading.Lock()
        self._preparing: set[Limits | None] = set()
        self._closed = False
        with CgroupTree._users_lock:
            self._first = CgroupTree._users[runs] == 0
            CgroupTree._users[runs] += 1

    @property
    def missing(self) -> list[str]:
        """The controllers neither hierarchy gives the runs: those limits are rlimits only."""
        return [name for name in CONTROLLERS if name not in self.controllers | set(self.v1)]

    @property
    def enforced(self) -> list[str]:
        """What the run cgroups do: ``cgroup.kill`` always, and the limits they hold."""
        found = ["cgroup.kill"]
        for name in CONTROLLERS:
            if name in self.controllers:
                found.append(V2_FILES[name][0])
            elif name in self.v1:
                found.append(f"{V1_FILES[name][0]} (v1)")
        return found

    @classmethod
    def setup(cls) -> CgroupTree:
        """Find and prepare the delegated tree; :class:`IsolationUnavailable` says why not."""
        try:
            own = hierarchies(
                Path("/proc/self/mountinfo").read_text(), Path("/proc/self/cgroup").read_text()
            )
        except OSError as exc:
            raise IsolationUnavailable(f"cannot read this process's cgroups: {exc}") from None
        base = own.v2
        if base is None:
            raise IsolationUnavailable("no cgroup v2 hierarchy is mounted")
        if not os.access(base, os.W_OK):
            raise IsolationUnavailable(f"{base} is not writable (Delegate=yes in the unit?)")
        delegated = (base / "cgroup.type").exists()  # only the root cgroup has none
        wanted = set(CONTROLLERS) & _controllers(base)
        try:
            if delegated and wanted:
                # The "no internal processes" rule: the daemon leaves the service's cgroup
                # for a leaf of its own before controllers are enabled below it.
                supervisor = base / "daemon"
                supervisor.mkdir(exist_ok=True)
                _write(supervisor / "cgroup.procs", "0")
                wanted = _enable(base, wanted)
            runs = _runs_parent(base, delegated)
            controllers = frozenset(_enable(runs, wanted))
            tree = cls(runs, controllers, _v1_parents(own.v1, set(CONTROLLERS) - controllers))
            if tree._first:
                tree.remove_stale()
            probe = RunCgroup.create(tree, None)
            can_kill = (probe.path / "cgroup.kill").exists()
            probe.remove()
        except OSError as exc:
            raise IsolationUnavailable(f"cannot create run cgroups under {base}: {exc}") from None
        if not can_kill:
            raise IsolationUnavailable("the kernel has no cgroup.kill (Linux 5.14+)")
        return tree

    def leaf(self, limits: Limits | None) -> RunCgroup:
        """A fresh leaf for one run: one made ahead of need when there is one (a leaf
        is never handed out twice: nothing has entered it yet), else made now.

        Making one (up to three ``mkdir`` and the limit writes, 0.2-0.8 ms on the memory
        controller) is then off the run's path and off the event loop: :meth:`prepare`
        makes the next ones in a thread of their own once a run has ended."""
        with self._spares_lock:
            spares = self._spares.get(limits)
            if spares:
                return spares.pop(0)  # the oldest first: none lingers
        return RunCgroup.create(self, limits)

    def prepare(self, limits: Limits | None) -> None:
        """Make leaves with ``limits`` ahead of need, up to :data:`SPARE_LEAVES`; one
        caller at a time does, and one that cannot leaves the next run to make its own."""
        with self._spares_lock:
            if limits in self._preparing or self._closed:
                return
            self._preparing.add(limits)
        try:
            while True:
                with self._spares_lock:
                    if self._closed or len(self._spares.setdefault(limits, [])) >= SPARE_LEAVES:
                        return
                leaf = RunCgroup.create(self, limits)
                with self._spares_lock:
                    if self._closed:  # closing removes every leaf, but this one came after
                        leaf.remove()
                        return
                    self._spares[limits].append(leaf)
        except OSError:
            return
        finally:
            with self._spares_lock:
                self._preparing.discard(limits)

    def remove_stale(self) -> None:
        """Kill and remove leaves a previous daemon left behind (it crashed mid-run)."""
        leaves = self.runs.iterdir() if self.runs.is_dir() else iter(())
        for leaf in leaves:
            if leaf.is_dir():
                RunCgroup(self, leaf.name).remove()

    def close(self) -> None:
        """Remove this tree's spare leaves; the last tree of the process on these parents
        also removes what is left in them, and them when nothing is."""
        with self._spares_lock:
            spares = [leaf for leaves in self._spares.values() for leaf in leaves]
            self._spares.clear()
            if self._closed:
                return
            self._closed = True
        for leaf in spares:
            leaf.remove()
        with CgroupTree._users_lock:
            CgroupTree._users[self.runs] -= 1
            last = CgroupTree._users[self.runs] <= 0
            if last:
                del CgroupTree._users[self.runs]
        if not last:
            return
        self.remove_stale()
        for parent in [self.runs, *self.v1.values()]:
            with contextlib.suppress(OSError):
                parent.rmdir()


class RunCgroup:
    """One run's leaves: limits in, ``cgroup.kill`` and usage out."""

    def __init__(self, tree: CgroupTree, name: str) -> None:
        self.tree = tree
        self.path = tree.runs / name
        self.controllers = tree.controllers
        self.v1 = {controller: parent / name for controller, parent in tree.v1.items()}

    @classmethod
    def create(cls, tree: CgroupTree, limits: Limits | None) -> RunCgroup:
        leaf = cls(tree, uuid.uuid4().hex)
        for directory in [leaf.path, *leaf.v1.values()]:
            directory.mkdir()
        if limits is not None:
            leaf._limit(limits)
        return leaf

    def _limit(self, limits: Limits) -> None:
        values = {"memory": limits.max_memory_bytes, "pids": limits.max_processes}
        for name, value in values.items():
            if name in self.controllers:
                _write(self.path / V2_FILES[name][0], str(value))
            elif name in self.v1:
                _write(self.v1[name] / V1_FILES[name][0], str(value))
        # No swap: the memory limit is the memory the run may use.
        if "memory" in self.controllers and (self.path / "memory.swap.max").exists():
            _write(self.path / "memory.swap.max", "0")
        elif "memory" in self.v1 and (self.v1["memory"] / "memory.memsw.limit_in_bytes").exists():
            _write(self.v1["memory"] / "memory.memsw.limit_in_bytes", str(values["memory"]))

    def v1_procs(self) -> list[str]:
        """The file a single-threaded process writes ``0`` into to enter each v1 leaf:
        ``tasks`` (see the module's docstring)."""
        return [str(directory / "tasks") for directory in self.v1.values()]

    def procs(self) -> list[str]:
        """The same for every leaf, in the order a process enters them: the v1 leaves, then
        the v2 leaf's ``cgroup.procs``."""
        return [*self.v1_procs(), str(self.path / "cgroup.procs")]

    def enter(self, argv: list[str]) -> list[str]:
        """``argv``, started by a shell that first moves itself into every leaf."""
        return [SHELL, "-c", ENTER, "hookrunner-enter", *self.procs(), "--", *argv]

    def pids(self) -> list[int]:
        try:
            return [int(pid) for pid in (self.path / "cgroup.procs").read_text().split()]
        except OSError:
            return []

    def signal(self, sig: int, spare: int | None = None) -> None:
        for pid in self.pids():
            if pid == spare:
                continue
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, sig)

    def kill(self) -> None:
        """SIGKILL everything in the leaf, forks in flight included, and wait until it is empty."""
        with contextlib.suppress(FileNotFoundError):
            _write(self.path / "cgroup.kill", "1")
        deadline = time.monotonic() + EMPTY_WAIT
        while self._populated() and time.monotonic() < deadline:
            time.sleep(0.001)

    def _populated(self) -> bool:
        try:
            events = (self.path / "cgroup.events").read_text()
        except FileNotFoundError:
            return False
        return "populated 1" in events

    def usage(self) -> Usage:
        peak = None
        memory = self.path if "memory" in self.controllers else self.v1.get("memory")
        files = V2_FILES if "memory" in self.controllers else V1_FILES
        if memory is not None:
            with contextlib.suppress(OSError, ValueError):
                peak = int((memory / files["memory"][1]).read_text())
        cpu = None
        with contextlib.suppress(OSError, ValueError):
            for line in (self.path / "cpu.stat").read_text().splitlines():
                key, _, value = line.partition(" ")
                if key == "usage_usec":
                    cpu = int(value) / 1e6
        return Usage(peak, cpu)

    def remove(self) -> None:
        """Kill what is left and remove the leaves (``remove_stale`` retries a busy one)."""
        for directory in [self.path, *self.v1.values()]:
            for _ in range(100):
                try:
                    directory.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError as exc:
                    if exc.errno != errno.EBUSY:
                        break
                    self.kill()
                    time.sleep(0.001)
