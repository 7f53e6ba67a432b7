"""Warm mode (DESIGN §5): hooks forked from a pre-started interpreter, not spawned.

One forking interpreter (``forkserver.py``) runs per hook environment: per interpreter,
the part of the hook environment the interpreter reads at start, the hook account and the
rlimits. It is started through the same launch chain as a spawned hook (its own cgroup
leaf, ``prlimit``, ``setpriv`` to the hook account with no capabilities, bubblewrap where
hooks are sandboxed), with no more environment than that, so it holds nothing a hook may
not see. Each run's child is born in the run's cgroup v2 leaf where the kernel allows it and
moves itself into the others (as the spawn chain's shell does, through files the daemon
opened), takes namespaces of its own when sandboxed, and reports itself ready before it
runs anything of the hook; one that cannot is not run.

A run is forked only where that keeps every isolation property of a spawned one; anything
else (no run cgroup, no ``setpriv`` for the account switch, a forking interpreter that
cannot start or does not answer, a child that cannot set up the run's namespaces) starts
the run the spawn way. The interpreter is replaced when it dies, when its interpreter file
changes, when what its sandbox shows changes, after ``max_forks`` forks and after
``max_age`` seconds.
"""

from __future__ import annotations

import array
import asyncio
import contextlib
import json
import os
import socket
import struct
import subprocess
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import NamedTuple

import structlog

from hookrunner.execution.cgroups import CgroupTree, RunCgroup
from hookrunner.execution.limits import Limits
from hookrunner.execution.sandbox import Sandbox

log = structlog.get_logger("hookrunner.executor")

FORKSERVER = Path(__file__).with_name("forkserver.py")
SANDBOXED = "--sandboxed"  # forkserver.py's flag: each child a PID namespace of its own
# Preloaded by each forking interpreter (its ``preload()``): the file every flow hook runs.
PRELOADED = (Path(__file__).resolve().parents[1] / "flows" / "harness.py",)
START_TIMEOUT = 30.0
READY_TIMEOUT = 10.0
# After a forking interpreter fails to start, runs of its key spawn for this long.
RETRY_AFTER = 30.0
UCRED = struct.Struct("iII")


class WarmPolicy(NamedTuple):
    """When a forking interpreter is replaced by a fresh one."""

    max_forks: int = 1000
    max_age: float = 600.0


class WarmUnavailable(Exception):
    """This run cannot be forked warm; it spawns instead. The message says why."""


def interpreter_env(env: Mapping[str, str]) -> dict[str, str]:
    """What of the hook environment an interpreter reads when it starts: the forking one
    is started with exactly this, and is keyed by it."""
    return {
        name: value
        for name, value in env.items()
        if name.startswith(("PYTHON", "LC_")) or name in ("LANG", "PATH")
    }


def _signature(path: str) -> tuple[int, int, int]:
    info = os.stat(path)
    return info.st_ino, info.st_size, info.st_mtime_ns


class Key(NamedTuple):
    """What makes two forking interpreters different."""

    program: str
    env: tuple[tuple[str, str], ...]
    prefix: tuple[str, ...]  # what it starts through: ``setpriv`` dropping capabilities
    account: tuple[int, int] | None  # uid and gid its children switch to
    limits: Limits
    sandboxed: bool = False  # started in bubblewrap; its children take namespaces of their own


class ForkServer:
    """One forking interpreter: its process, its control socket, its own cgroup leaf."""

    def __init__(self, key: Key, tree: CgroupTree, sandbox: Sandbox | None) -> None:
        self.key = key
        self.forks = 0
        self.started = time.monotonic()
        self.signature = _signature(key.program)
        self.sandbox = sandbox if key.sandboxed else None
        self.shown = self.sandbox.shown() if self.sandbox else []  # bound when it started
        self.leaf = RunCgroup.create(tree, key.limits)
        self.control, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            self.process = self._launch(theirs)
        except OSError as exc:
            self.close()
            raise WarmUnavailable(f"cannot start {key.program}: {exc}") from None
        finally:
            theirs.close()
        self.control.settimeout(START_TIMEOUT)
        try:
            ready = self.control.recv(16)
        except OSError:
            ready = b""
        if ready != b"ready":
            self.close()
            raise WarmUnavailable(f"{key.program} did not start a forking interpreter")
        self.control.setblocking(False)

    def _launch(self, theirs: socket.socket) -> subprocess.Popen[bytes]:
        key = self.key
        argv = [key.program, str(FORKSERVER), str(theirs.fileno()), *map(str, PRELOADED)]
        if self.sandbox is not None:
            argv = self.sandbox.wrap_server([*argv[:3], SANDBOXED, *argv[3:]])
        launch = key.limits.launch([*key.prefix, *argv])
        return subprocess.Popen(
            self.leaf.enter(launch.argv),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            cwd="/",
            env=dict(key.env),
            pass_fds=[theirs.fileno()],
            start_new_session=True,
            preexec_fn=launch.preexec_fn,
        )

    def fresh(self, policy: WarmPolicy) -> bool:
        """Still fit to fork: running, same interpreter file, within its forks and age, and
        its sandbox shows what the runs need (a new hook environments directory)."""
        if self.process.poll() is not None or self.forks >= policy.max_forks:
            return False
        if time.monotonic() - self.started >= policy.max_age:
            return False
        if self.sandbox is not None and self.sandbox.shown() != self.shown:
            return False
        try:
            return _signature(self.key.program) == self.signature
        except OSError:
            return False

    def request(self, document: Mapping[str, object], fds: list[int]) -> None:
        """Ask for one child; :class:`WarmUnavailable` when the interpreter does not take it."""
        payload = json.dumps(document).encode()
        rights = [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", fds))]
        try:
            self.control.sendmsg([payload], rights)
        except OSError as exc:
            raise WarmUnavailable(f"the forking interpreter does not answer: {exc}") from None
        self.forks += 1

    def retire(self) -> None:
        """No more forks: it exits once its running children have ended."""
        with contextlib.suppress(OSError):
            self.control.shutdown(socket.SHUT_RDWR)
        self.control.close()

    def done(self) -> bool:
        return self.process.poll() is not None

    def close(self, wait: float = 0.0) -> None:
        """Stop it (after ``wait`` seconds for its children) and remove its leaf."""
        self.retire()
        if hasattr(self, "process"):
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(wait)
        self.leaf.remove()
        if hasattr(self, "process"):
            self.process.wait()


class WarmChild(NamedTuple):
    """A forked child, in the run's cgroup and on its way to run the file."""

    pid: int  # as this process sees it
    channel: socket.socket


class WarmPool:
    """The forking interpreters of one :class:`Isolation`, by key."""

    def __init__(self, tree: CgroupTree | None, sandbox: Sandbox | None = None) -> None:
        self.tree = tree
        self.sandbox = sandbox
        self.servers: dict[Key, ForkServer] = {}
        self.retired: list[ForkServer] = []
        self.failed: dict[Key, float] = {}
        self.lock = threading.Lock()
        self.said: set[str] = set()

    def fall_back(self, reason: str) -> None:
        """A run spawns instead: said once per reason."""
        if reason not in self.said:
            self.said.add(reason)
            log.info("warm_fallback", reason=reason)

    def _current(self, key: Key, policy: WarmPolicy) -> ForkServer | None:
        server = self.servers.get(key)
        return server if server is not None and server.fresh(policy) else None

    def _start(self, key: Key, policy: WarmPolicy) -> ForkServer:
        """A fresh forking interpreter for ``key`` (blocking: call it from a thread)."""
        if self.tree is None:
            raise WarmUnavailable("no run cgroup to move a forked child into")
        with self.lock:
            server = self._current(key, policy)
            if server is not None:
                return server
            # Replace this key's, and retire any other past its age or forks: after a
            # reload or a new environment, the old keys' interpreters are not asked again.
            for stale in [
                k for k, old in self.servers.items() if k == key or not old.fresh(policy)
            ]:
                old = self.servers.pop(stale)
                old.retire()
                self.retired.append(old)
            for done in [server for server in self.retired if server.done()]:
                self.retired.remove(done)
                done.close()
            if time.monotonic() < self.failed.get(key, 0.0):
                raise WarmUnavailable("its forking interpreter failed to start a moment ago")
            try:
                server = ForkServer(key, self.tree, self.sandbox)
            except (WarmUnavailable, OSError) as exc:
                self.failed[key] = time.monotonic() + RETRY_AFTER
                log.warning("warm_start_failed", interpreter=key.program, error=str(exc))
                raise WarmUnavailable(str(exc)) from None
            self.servers[key] = server
            return server

    async def fork(
        self, key: Key, policy: WarmPolicy, document: Mapping[str, object],
        stdio: tuple[int, int], procs: Sequence[int],
    ) -> WarmChild:  # fmt: skip
        """A child for one run, in its own session, not yet running anything of the hook.
        ``procs``: the run's cgroup v2 leaf, then the files that move a process into its
        leaves, open for writing."""
        server = self._current(key, policy)
        if server is None:
            server = await asyncio.to_thread(self._start, key, policy)
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            ours.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
            ours.setblocking(False)
            try:
                server.request(document, [*stdio, theirs.fileno(), *procs])
            except WarmUnavailable:
                self._drop(server)
                raise
            finally:
                theirs.close()
            pid = await asyncio.wait_for(_ready(ours), READY_TIMEOUT)
            # The child waits for this before any hook code: had the daemon given up
            # waiting (and spawned the run), nothing of the hook would run forked too.
            ours.send(b"go")
        except (WarmUnavailable, TimeoutError, OSError) as exc:
            ours.close()
            raise WarmUnavailable(f"no warm child: {exc or 'no answer'}") from None
        return WarmChild(pid, ours)

    def _drop(self, server: ForkServer) -> None:
        with self.lock:
            if self.servers.get(server.key) is server:
                del self.servers[server.key]
                server.retire()
                self.retired.append(server)

    def status(self) -> dict[str, object]:
        """The forking interpreters running now, and why runs were spawned instead."""
        return {"interpreters": len(self.servers), "fallbacks": sorted(self.said)}

    def close(self) -> None:
        with self.lock:
            servers = [*self.servers.values(), *self.retired]
            self.servers.clear()
            self.retired.clear()
        for server in servers:
            server.close(wait=5.0)


async def _readable(sock: socket.socket) -> None:
    loop = asyncio.get_running_loop()
    ready: asyncio.Future[None] = loop.create_future()

    def wake() -> None:
        if not ready.done():
            ready.set_result(None)

    loop.add_reader(sock.fileno(), wake)
    try:
        await ready
    finally:
        loop.remove_reader(sock.fileno())


async def _ready(channel: socket.socket) -> int:
    """The child's pid, as the kernel translated it for us, once it says it is ready."""
    await _readable(channel)
    data, ancillary, _flags, _address = channel.recvmsg(256, socket.CMSG_SPACE(UCRED.size))
    if data != b"ready":
        reason = data.partition(b": ")[2].decode(errors="replace") or "no reason given"
        raise WarmUnavailable(f"the child could not enter the run's cgroup or namespaces: {reason}")
    for level, kind, payload in ancillary:
        if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
            pid, _uid, _gid = UCRED.unpack(payload[: UCRED.size])
            return int(pid)
    raise WarmUnavailable("the child's pid did not come with it")


async def wait_status(channel: socket.socket) -> int | None:
    """The child's exit code (``-N`` for signal N) once the forking interpreter reaped it;
    ``None`` when that interpreter went away first."""
    await _readable(channel)
    try:
        data = channel.recv(256)
        status = json.loads(data)["status"] if data else None
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return os.waitstatus_to_exitcode(status) if isinstance(status, int) else None
