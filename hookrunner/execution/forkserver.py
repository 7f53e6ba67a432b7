"""The warm interpreter: started once per hook environment, it forks one child per run.

Usage: ``<interpreter> forkserver.py CONTROL_FD [--sandboxed] [SCRIPT ...]``. It preloads
the standard library modules hooks commonly use and what each SCRIPT's ``preload()``
loads (the flow harness: its ``sym`` tree), then answers the daemon on the ``CONTROL_FD``
socket. Each request carries the run's stdout and stderr, a socket of its own, the run's
cgroup v2 leaf and the files that move a process into its cgroup leaves, all opened by the
daemon. The child is born in the v2 leaf where the kernel allows it (else it moves itself
there), moves itself into the others and says so on that socket (the kernel attaches its
pid as the daemon sees it), then takes on the run's account, stdio, cwd and environment
and runs the file as ``python FILE`` would: all before any of the hook's code runs. This
process reaps its children and sends each one's wait status on the run's socket.

Inside the sandbox (the daemon started this interpreter in bubblewrap, keeping the
capabilities of its user namespace that this takes), each run first gets namespaces of
its own (:func:`_sandbox`): mounts, PID and IPC, a fresh ``/proc``, ``/tmp`` and
``/dev/shm``, only its own private files, and then no capability at all and no new
privileges. A step that fails leaves nothing of the hook run: the daemon spawns it instead.

Standard library only, Python 3.9 compatible: it runs under the hook interpreter, which
need not have hookrunner installed. It never runs hook code itself.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import errno
import json
import os
import random
import selectors
import signal
import socket
import sys
import threading
import time
import traceback
import types
from importlib.machinery import SourceFileLoader
from typing import Any

PRELOAD = [
    "argparse",
    "base64",
    "collections",
    "contextlib",
    "csv",
    "dataclasses",
    "datetime",
    "email.message",
    "email.utils",
    "enum",
    "functools",
    "glob",
    "hashlib",
    "hmac",
    "http.client",
    "importlib.util",
    "io",
    "ipaddress",
    "itertools",
    "json",
    "logging",
    "pathlib",
    "platform",
    "re",
    "secrets",
    "shlex",
    "shutil",
    "socket",
    "ssl",
    "string",
    "subprocess",
    "tempfile",
    "textwrap",
    "time",
    "traceback",
    "typing",
    "urllib.error",
    "urllib.parse",
    "urllib.request",
    "uuid",
]
MAX_REQUEST = 1 << 20
# Requests are read into this one buffer, decoded only by the child they are for, and
# wiped after each fork: this process keeps nothing of a run (its environment holds the
# payload) for the children it forks later to find in their memory.
_request = bytearray(MAX_REQUEST)
SANDBOXED = "--sandboxed"  # in bubblewrap: each child gets a PID namespace of its own
_sandboxed = False
STDIO_AND_RUN = 3  # stdout, stderr and the run's socket
LEAF = 3  # then the run's cgroup v2 leaf (a directory), then the files that move it into
# its leaves: the v1 leaves' ``tasks``, the v2 leaf's ``cgroup.procs`` last
MAX_FDS = 8
MAX_REASON = 200  # bytes of why a child refused a run
_code_cache: dict[str, tuple[tuple[int, int, int], types.CodeType]] = {}
_preloaded: dict[str, list[str]] = {}


def _signature(path: str) -> tuple[int, int, int]:
    info = os.stat(path)
    return info.st_ino, info.st_size, info.st_mtime_ns


def _compile(path: str) -> types.CodeType:
    """The file's code, compiled once per version of the file."""
    signature = _signature(path)
    cached = _code_cache.get(path)
    if cached is not None and cached[0] == signature:
        return cached[1]
    with open(path, "rb") as handle:
        code: types.CodeType = compile(handle.read(), path, "exec", dont_inherit=True)
    _code_cache[path] = (signature, code)
    return code


def _preload(scripts: list[str]) -> None:
    """Import the common modules, then run each script's ``preload()`` (the flow harness
    loads its ``sym`` tree). What a script added is taken out again in a child that
    runs another file, so only the script itself sees it."""
    for name in PRELOAD:
        with contextlib.suppress(ImportError):
            __import__(name)
    for path in scripts:
        before = set(sys.modules)
        flag, search = sys.dont_write_bytecode, list(sys.path)
        try:
            with contextlib.suppress(Exception):  # a script that cannot preload runs cold
                module = types.ModuleType("__preload__")
                module.__dict__.update(__file__=path, __builtins__=__builtins__)
                exec(_compile(path), module.__dict__)  # noqa: S102  (hookrunner's own file)
                preload = module.__dict__.get("preload")
                if callable(preload):
                    preload()
        finally:
            sys.dont_write_bytecode, sys.path[:] = flag, search
        _preloaded[os.path.realpath(path)] = [name for name in sys.modules if name not in before]


def _forget_preloads(path: str) -> None:
    """Out of the child: what the preload scripts other than ``path`` imported."""
    for script, names in _preloaded.items():
        if script != os.path.realpath(path):
            for name in names:
                sys.modules.pop(name, None)


def _set_dumpable(value: int) -> None:
    """Same-account processes may not ptrace or read the memory of this one (0), or may
    (1, what a freshly exec'd hook has)."""
    _prctl(PR_SET_DUMPABLE, value)


def _exit_code(code: object) -> int:
    """What the interpreter exits with for ``SystemExit(code)``."""
    if code is None:
        return 0
    if isinstance(code, int):
        return code & 0xFF
    print(code, file=sys.stderr)
    return 1


def _run_main(path: str, args: list[str]) -> int:
    """Run ``path`` as ``__main__``, as ``python path args...`` does; its exit code."""
    sys.argv = [path, *args]
    if hasattr(sys, "orig_argv"):
        sys.orig_argv = [sys.executable, path, *args]
    sys.path[0] = os.path.dirname(os.path.abspath(path))
    main = types.ModuleType("__main__")
    loader = SourceFileLoader("__main__", path)
    main.__dict__.update(
        __file__=path, __builtins__=__builtins__, __cached__=None, __loader__=loader
    )
    sys.modules["__main__"] = main
    try:
        code = _compile(path)
    except OSError as exc:
        reason = f"[Errno {exc.errno}] {exc.strerror}"
        print(f"{sys.executable}: can't open file {path!r}: {reason}", file=sys.stderr)
        return 2
    except SyntaxError:
        traceback.print_exc(limit=0)
        return 1
    try:
        exec(code, main.__dict__)  # noqa: S102  (running the hook file is the job)
    except SystemExit as exc:
        return _exit_code(exc.code)
    except BaseException:
        _kind, value, trace = sys.exc_info()
        if value is not None and trace is not None:
            value.__traceback__ = trace.tb_next  # the hook's frames, not this one
            sys.excepthook(type(value), value, value.__traceback__)
        return 1
    return 0


def _finish(code: int) -> None:
    """What interpreter shutdown does for the hook: wait for its threads, run its atexit
    handlers once, flush its output; then leave without the server's own clean-up."""
    with contextlib.suppress(BaseException):  # the hook's threads' trouble, never ours
        threading._shutdown()  # type: ignore[attr-defined]
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            if stream is sys.stdout:
                code = code or 120  # as CPython: output that cannot be flushed fails
    os._exit(code)


def _become_run(request: dict[str, Any], stdout: int, stderr: int) -> None:
    """Take on the run's account, stdio, cwd and environment."""
    if request["account"] is not None:  # leaving root (or CAP_SETUID) drops every capability
        uid, gid = request["account"]
        os.setgroups([])
        os.setresgid(gid, gid, gid)
        os.setresuid(uid, uid, uid)
    null = os.open(os.devnull, os.O_RDONLY)
    for target, source in ((0, null), (1, stdout), (2, stderr)):
        os.dup2(source, target)
    for name in os.listdir("/proc/self/fd"):  # what spawn has: 0-2 and nothing else
        if int(name) > 2:
            with contextlib.suppress(OSError):
                os.close(int(name))
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    time.tzset()
    # Fresh state, never the server's or a sibling's (CPython's at-fork hook reseeds the
    # module's generator too; this also covers a hook interpreter built without it).
    random.seed()
    _set_dumpable(1)


def _enter(procs: int) -> None:
    """Move this process into a cgroup (``procs``: its ``cgroup.procs``, or a v1 leaf's
    ``tasks``, opened by the daemon: the kernel checks the opener's right to move it there,
    not this process's)."""
    try:
        os.write(procs, b"0")
    finally:
        os.close(procs)


def _child(data: bytes, fds: list[int], born_there: bool) -> None:
    """The run's process: enter the run's cgroup (and sandbox), say so, become the run, run
    the file. ``born_there``: it already is in the v2 leaf (the last of the files)."""
    stdout, stderr, run_fd, leaf, *procs = fds
    try:  # nothing here may return into the server's loop: every failure ends the child
        os.close(leaf)
        if born_there:
            os.close(procs.pop())
        request = json.loads(data)
        signal.set_wakeup_fd(-1)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        os.setsid()
        run = socket.socket(fileno=run_fd)
        try:
            if ("sandbox" in request) != _sandboxed:  # a daemon of another version
                raise OSError("the request and this interpreter disagree on the sandbox")
            for fd in procs:
                _enter(fd)
            if _sandboxed:  # only the run's own process comes back, with nothing held
                _sandbox(request["sandbox"], run, (stdout, stderr))
        except OSError as exc:  # nothing of the hook ran: the daemon spawns it
            run.sendall(b"refused: " + str(exc).encode(errors="replace")[:MAX_REASON])
            os._exit(0)
        if not _sandboxed:  # (in the sandbox, its PID 1 said so and passed "go" on)
            run.sendall(b"ready")
            if run.recv(16) != b"go":  # the daemon gave up on this run and spawns it
                os._exit(0)
        run.close()
        _become_run(request, stdout, stderr)
        _forget_preloads(request["file"])
    except BaseException:
        os._exit(127)
    _finish(_run_main(request["file"], request["args"]))


# Per-run namespaces inside the sandbox. Constants from <linux/sched.h>, <linux/mount.h>
# and <linux/prctl.h>; Python 3.9-3.11 have no os.unshare.
CLONE_NEWNS = 0x00020000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_REMOUNT = 1, 2, 4, 8, 32
MS_NOATIME, MS_NODIRATIME, MS_BIND, MS_REC, MS_PRIVATE = 1024, 2048, 4096, 16384, 1 << 18
MS_RELATIME = 1 << 21
# statvfs's flag -> the mount flag a read-only remount must keep (bubblewrap does the same).
KEPT_FLAGS = {1: MS_RDONLY, 2: MS_NOSUID, 4: MS_NODEV, 8: MS_NOEXEC, 1024: MS_NOATIME,
              2048: MS_NODIRATIME, 4096: MS_RELATIME}  # fmt: skip
PR_SET_DUMPABLE, PR_CAPBSET_DROP, PR_SET_NO_NEW_PRIVS = 4, 24, 38
PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL = 47, 4
CAPABILITY_VERSION_3 = 0x20080522
# What bubblewrap makes read-only in a fresh /proc (the host's sysctls and the like).
PROC_COVERED = ("sys", "sysrq-trigger", "irq", "bus")
NO_CAPABILITIES = ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb")
_libc = ctypes.CDLL(None, use_errno=True)


def _check(result: int, what: str) -> None:
    if result != 0:
        error = ctypes.get_errno()
        raise OSError(error, f"{what}: {os.strerror(error)}")


def _mount(source: str | None, target: str, kind: str | None, flags: int, data: str = "") -> None:
    encoded = [value.encode() if value else None for value in (source, target, kind, data)]
    _check(_libc.mount(encoded[0], encoded[1], encoded[2], ctypes.c_ulong(flags), encoded[3]),
           f"mount {target}")  # fmt: skip


def _remount_readonly(target: str) -> None:
    """``target``'s mount (not those below it) read-only, its other flags kept."""
    flags = os.statvfs(target).f_flag
    kept = sum(mount for flag, mount in KEPT_FLAGS.items() if flags & flag)
    _mount(None, target, None, MS_REMOUNT | MS_BIND | MS_RDONLY | kept)


def _prctl(option: int, value: int) -> int:
    return int(_libc.prctl(option, *(ctypes.c_ulong(arg) for arg in (value, 0, 0, 0))))


def _sandbox(box: dict[str, Any], run: socket.socket, stdio: tuple[int, int]) -> None:
    """Give the run what a spawned sandbox gets, inside this interpreter's sandbox.

    This process is PID 1 of a PID namespace of its own (:func:`_fork` made it so); it
    unshares mounts and IPC, covers ``/tmp`` (and the runs' files) with its own and shows
    again what ``box`` keeps, mounts a fresh ``/proc``, and forks the run's process. Only
    that one returns, once it has no capability left; this process says "ready" then,
    passes the run's wait status on and never returns. :class:`OSError` when a step here
    fails (nothing of the hook ran).
    """
    _check(_libc.unshare(CLONE_NEWNS | CLONE_NEWIPC), "unshare")
    _mount_private(box)
    _mount_proc()
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    signal.signal(signal.SIGINT, signal.SIG_DFL)  # PID 1: nothing the run sends reaches it
    hook = os.fork()
    if hook == 0:
        try:
            signal.signal(signal.SIGINT, signal.default_int_handler)  # as Python starts
            ours.close()
            run.close()
            _drop_privileges(theirs)
        except OSError as exc:
            with contextlib.suppress(OSError):
                theirs.sendall(str(exc).encode(errors="replace")[:MAX_REASON])
            os._exit(127)
        except BaseException:
            os._exit(127)
        return
    theirs.close()
    for fd in stdio:
        os.close(fd)
    _supervise(hook, ours, run)


def _mount_private(box: dict[str, Any]) -> None:
    """This run's own ``/tmp``, ``/dev/shm`` and ``/dev/pts``; of what they cover, only what
    ``box["keep"]`` names (snapshots, code, the run's own private directory); ``/dev``
    read-only (it is the sandbox's, shared by every run)."""
    umask = os.umask(0)  # directories made here are 0755, as bubblewrap makes them
    try:
        _mount(None, "/", None, MS_REC | MS_PRIVATE)  # nothing of this reaches another run
        kept = [(path, os.open(path, os.O_PATH | os.O_DIRECTORY)) for path in box["keep"]]
        for cover in box["cover"]:
            _mount("tmpfs", cover, "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755")
        for path, fd in kept:  # each alone: never what the sandbox mounted below it
            os.makedirs(path, 0o755, exist_ok=True)
            _mount(f"/proc/self/fd/{fd}", path, None, MS_BIND)
            os.close(fd)
        _mount("tmpfs", "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755")
        _mount("devpts", "/dev/pts", "devpts", MS_NOSUID | MS_NOEXEC,
               "newinstance,ptmxmode=0666,mode=620")  # fmt: skip
        _remount_readonly("/dev")
    finally:
        os.umask(umask)


def _mount_proc() -> None:
    """A ``/proc`` of this PID namespace, its host-wide files read-only (as bubblewrap's)."""
    _mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
    # No user namespaces from here on (what bubblewrap's --disable-userns gives): this is
    # the sandbox's own setting, so it holds for every run of this interpreter.
    with open("/proc/sys/user/max_user_namespaces", "w") as limit:
        limit.write("0")
    for name in PROC_COVERED:
        path = "/proc/" + name
        if os.path.exists(path):
            _mount(path, path, None, MS_BIND | MS_REC)
            _remount_readonly(path)


def _drop_privileges(report: socket.socket) -> None:
    """The run's process: a session of its own, no capability in any set, no new
    privileges, no user namespaces; then say "ok", and wait for "go": the daemon has taken
    the run (had it given up waiting, it spawns the run instead)."""
    os.setsid()
    _check(_prctl(PR_SET_NO_NEW_PRIVS, 1), "no_new_privs")
    for capability in range(64):
        if _prctl(PR_CAPBSET_DROP, capability) != 0:
            break  # past the last capability this kernel knows
    _check(_prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL), "clearing ambient capabilities")
    header = (ctypes.c_uint32 * 2)(CAPABILITY_VERSION_3, 0)
    _check(_libc.capset(header, (ctypes.c_uint32 * 6)()), "capset")
    if _libc.unshare(CLONE_NEWUSER) == 0:
        raise OSError("a user namespace could still be made")
    with open("/proc/self/status") as lines:
        status = dict(line.split(":", 1) for line in lines)
    left = [name for name in NO_CAPABILITIES if int(status[name], 16) != 0]
    if left or status["NoNewPrivs"].strip() != "1":
        raise OSError(f"capabilities left: {left}")
    report.sendall(b"ok")
    if report.recv(16) != b"go":
        raise OSError("the daemon did not take the run")
    report.close()


def _supervise(hook: int, report: socket.socket, run: socket.socket) -> None:
    """PID 1 of the run's namespace: say "ready" once the run's process has dropped
    everything (or "refused", leaving nothing behind) and pass the daemon's "go" on; send
    its wait status when it ends, then exit, which kills whatever is left in the
    namespace."""
    try:
        said = report.recv(MAX_REASON)
    except OSError:
        said = b""
    if said != b"ok":
        with contextlib.suppress(OSError):
            os.kill(hook, signal.SIGKILL)
            os.waitpid(hook, 0)
        with contextlib.suppress(OSError):
            run.sendall(b"refused: " + (said or b"the run's process ended"))
        os._exit(0)
    try:
        run.sendall(b"ready")
        go = run.recv(16)
        report.sendall(go)
    except OSError:
        go = b""
    if go != b"go":  # the daemon gave up on this run: nothing of the hook runs
        os.kill(hook, signal.SIGKILL)
        os._exit(0)
    while True:
        pid, status = os.waitpid(-1, 0)  # orphans of the run are reparented here
        if pid == hook:
            break
    with contextlib.suppress(OSError):  # ahead of this process's own, which the server sends
        run.sendall(json.dumps({"status": status}).encode())
    os._exit(0)


_own_pid_namespace: int | None = None


def _new_pid_namespace() -> None:
    """The next child is PID 1 of a new PID namespace (a run in the sandbox)."""
    global _own_pid_namespace
    if _own_pid_namespace is None:
        _own_pid_namespace = os.open("/proc/self/ns/pid", os.O_RDONLY)
    # The previous run's namespace is still the one children get: back to this process's
    # own first (unshare refuses to nest from there).
    _check(_libc.setns(_own_pid_namespace, CLONE_NEWPID), "setns")
    _check(_libc.unshare(CLONE_NEWPID), "unshare")


def _receive(control: socket.socket) -> tuple[int | None, list[int]]:
    """The size of one request (in :data:`_request`) and its descriptors; ``(None, [])``
    when the daemon has hung up."""
    space = socket.CMSG_SPACE(MAX_FDS * 4)
    size, ancillary, _flags, _address = control.recvmsg_into([_request], space)
    fds: list[int] = []
    for level, kind, payload in ancillary:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            usable = len(payload) - len(payload) % 4
            fds.extend(
                int.from_bytes(payload[i : i + 4], sys.byteorder) for i in range(0, usable, 4)
            )
    if not size:
        for fd in fds:
            os.close(fd)
        return None, []
    return size, fds


def _reap(runs: dict[int, socket.socket]) -> None:
    """Send the wait status of every child that has ended on its run's socket."""
    while runs:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        run = runs.pop(pid, None)
        if run is not None:
            with contextlib.suppress(OSError):
                run.sendall(json.dumps({"status": status}).encode())
            run.close()


def serve(control: socket.socket) -> None:
    wakeup_read, wakeup_write = os.pipe()
    os.set_blocking(wakeup_write, False)
    os.set_blocking(wakeup_read, False)
    signal.set_wakeup_fd(wakeup_write)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    selector = selectors.DefaultSelector()
    selector.register(control, selectors.EVENT_READ, "control")
    selector.register(wakeup_read, selectors.EVENT_READ, "wakeup")
    runs: dict[int, socket.socket] = {}
    accepting = True
    control.sendall(b"ready")
    while accepting or runs:
        for key, _events in selector.select():
            if key.data == "wakeup":
                while True:
                    try:
                        if not os.read(wakeup_read, 512):
                            break
                    except BlockingIOError:
                        break
                _reap(runs)
                continue
            size, fds = _receive(control)
            if size is None:
                accepting = False
                selector.unregister(control)
                continue
            if len(fds) <= LEAF + 1:
                for fd in fds:
                    os.close(fd)
                continue
            pid = _fork(size, fds)
            _request[:size] = bytes(size)  # no later child finds this run's request
            for fd in fds[:2] + fds[STDIO_AND_RUN:]:
                os.close(fd)
            if pid is None:  # the run's socket closes unanswered: the daemon spawns it
                os.close(fds[2])
            else:
                runs[pid] = socket.socket(fileno=fds[2])
        _reap(runs)


def _fork(size: int, fds: list[int]) -> int | None:
    """The child's pid; ``None`` when the kernel refuses a fork (process limits) or, in
    the sandbox, a PID namespace for it. The child is born in the run's cgroup v2 leaf
    where it can be (:func:`_fork_into`); otherwise it moves itself there as into the
    others."""
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        if _sandboxed:
            _new_pid_namespace()
        # In the sandbox the child is PID 1 of a new namespace and enters by writing: a
        # clone3 the kernel refuses (this account may not place a child in the leaf) has
        # already taken the namespace's first PID, and no fork into it succeeds after.
        pid = None if _sandboxed else _fork_into(fds[LEAF])
        born_there = pid is not None
        if pid is None:
            pid = os.fork()
    except OSError:
        return None
    if pid == 0:
        _child(bytes(_request[:size]), fds, born_there)
    return pid


CLONE_INTO_CGROUP = 0x200000000
# clone3 is 435 on every architecture that has it since Linux 5.3, except alpha.
_CLONE3 = 435 if os.uname().machine in ("x86_64", "aarch64", "ppc64le", "s390x", "riscv64") else 0
_CLONE_ARGS = ("flags", "pidfd", "child_tid", "parent_tid", "exit_signal", "stack",
               "stack_size", "tls", "set_tid", "set_tid_size", "cgroup")  # fmt: skip
# Refusals that hold for every later run of this interpreter: an older kernel, or an
# account that may not place children there (one that needs the daemon's opened file).
_FOR_GOOD = (errno.ENOSYS, errno.EINVAL, errno.E2BIG, errno.EACCES, errno.EPERM)
_clone3: list[Any] = []


def _glibc() -> tuple[int, ...]:
    """glibc's version; ``()`` under another C library."""
    name = os.confstr("CS_GNU_LIBC_VERSION") if "CS_GNU_LIBC_VERSION" in os.confstr_names else ""
    if not name or not name.startswith("glibc "):
        return ()
    return tuple(int(part) for part in name[6:].split(".")[:2] if part.isdigit())


def _load_clone3() -> Any:
    """``(syscall, struct clone_args)``, ``syscall`` called with the GIL held as ``os.fork``
    calls ``fork``; ``None`` where a bare clone is not a fork: a C library other than glibc
    2.25+ caches the thread id (musl's ``raise`` would signal this process), and a second
    thread might hold a lock."""
    if not _clone3:
        loaded = None
        if _CLONE3 and _glibc() >= (2, 25):

            class CloneArgs(ctypes.Structure):
                _fields_ = [(name, ctypes.c_uint64) for name in _CLONE_ARGS]

            syscall = ctypes.PyDLL(None, use_errno=True).syscall
            syscall.restype = ctypes.c_long
            loaded = (syscall, CloneArgs)
        _clone3.append(loaded)
    return _clone3[0] if threading.active_count() == 1 else None


def _fork_into(leaf: int) -> int | None:
    """``os.fork``, the child born in the cgroup v2 directory open as ``leaf``
    (``CLONE_INTO_CGROUP``, Linux 5.7+); ``None`` where that is not to be had here.

    Moving a process by writing ``cgroup.procs`` takes the kernel's global
    ``cgroup_threadgroup_rwsem`` for writing, which waits out an RCU grace period (about
    10 ms) whenever no move came just before: most of a trivial hook's latency. Being
    born there takes it only for reading. This is ``os.fork`` with ``clone3`` in the
    middle: the same calls before and after, in the same (single-threaded) process. The
    kernel checks this process's own right to place a child there, not the daemon's."""
    loaded = _load_clone3()
    if loaded is None:
        return None
    syscall, clone_args = loaded
    args = clone_args(flags=CLONE_INTO_CGROUP, exit_signal=signal.SIGCHLD, cgroup=leaf)
    ctypes.pythonapi.PyOS_BeforeFork()
    pid = syscall(_CLONE3, ctypes.byref(args), ctypes.c_size_t(ctypes.sizeof(args)))
    if pid == 0:
        ctypes.pythonapi.PyOS_AfterFork_Child()
        return 0
    error = ctypes.get_errno()
    ctypes.pythonapi.PyOS_AfterFork_Parent()
    if pid > 0:
        return int(pid)
    if error in _FOR_GOOD:
        _clone3[0] = None
    return None


def main(argv: list[str]) -> None:
    global _sandboxed
    control = socket.socket(fileno=int(argv[1]))
    _sandboxed = argv[2:3] == [SANDBOXED]
    _preload(argv[3:] if _sandboxed else argv[2:])
    _set_dumpable(0)
    serve(control)


if __name__ == "__main__":
    main(sys.argv)
