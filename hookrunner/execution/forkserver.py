"""The warm interpreter: started once per hook environment, it forks one child per run.

Usage: ``<interpreter> forkserver.py CONTROL_FD [SCRIPT ...]``. It preloads the standard
library modules hooks commonly use and what each SCRIPT's ``preload()`` loads (the flow
harness: its ``sym`` tree), then answers the daemon on the ``CONTROL_FD`` socket. Each
request carries the run's stdout and stderr and a socket of its own. The child is born in
the run's cgroup v2 leaf (or moves itself there), moves itself into its v1 leaves and says
so on that socket (the kernel attaches its
pid as the daemon sees it), then takes on the run's account, stdio, cwd and environment
and runs the file as ``python FILE`` would: all before any of the hook's code runs. This process
reaps its children and sends each one's wait status on the run's socket.

Standard library only, Python 3.9 compatible: it runs under the hook interpreter, which
need not have hookrunner installed. It never runs hook code itself.
"""

from __future__ import annotations

import atexit
import contextlib
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
MAX_FDS = 3
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
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(4, value, 0, 0, 0)  # PR_SET_DUMPABLE
    except (OSError, AttributeError, ImportError):
        pass


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


def _enter(procs: str) -> None:
    """Move this process into a cgroup (``procs``: its ``cgroup.procs``)."""
    fd = os.open(procs, os.O_WRONLY)
    try:
        os.write(fd, b"0")
    finally:
        os.close(fd)


def _child(request: dict[str, Any], fds: list[int]) -> None:
    """The run's process: enter the run's cgroup, say so, become the run, run the file."""
    stdout, stderr, run_fd = fds
    try:
        signal.set_wakeup_fd(-1)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        os.setsid()
        run = socket.socket(fileno=run_fd)
        try:
            for procs in request["cgroups"]:
                _enter(procs)
        except OSError:
            run.sendall(b"refused")  # nothing of the hook ran: the daemon spawns it
            os._exit(0)
        run.sendall(b"ready")
        run.close()
        _become_run(request, stdout, stderr)
        _forget_preloads(request["file"])
    except BaseException:
        os._exit(127)
    _finish(_run_main(request["file"], request["args"]))


def _receive(control: socket.socket) -> tuple[dict[str, Any] | None, list[int]]:
    """One request and its descriptors; ``(None, [])`` when the daemon has hung up."""
    space = socket.CMSG_SPACE(MAX_FDS * 4)
    data, ancillary, _flags, _address = control.recvmsg(MAX_REQUEST, space)
    fds: list[int] = []
    for level, kind, payload in ancillary:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            usable = len(payload) - len(payload) % 4
            fds.extend(
                int.from_bytes(payload[i : i + 4], sys.byteorder) for i in range(0, usable, 4)
            )
    if not data:
        for fd in fds:
            os.close(fd)
        return None, []
    return json.loads(data), fds


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
            request, fds = _receive(control)
            if request is None:
                accepting = False
                selector.unregister(control)
                continue
            if len(fds) != MAX_FDS:
                for fd in fds:
                    os.close(fd)
                continue
            pid = _fork(request, fds)
            os.close(fds[0])
            os.close(fds[1])
            if pid is None:  # the run's socket closes unanswered: the daemon spawns it
                os.close(fds[2])
            else:
                runs[pid] = socket.socket(fileno=fds[2])
        _reap(runs)


def _fork(request: dict[str, Any], fds: list[int]) -> int | None:
    """The child's pid; ``None`` when the kernel refuses a fork (process limits).

    The child is born in the run's cgroup v2 leaf where it can be (:func:`_fork_into`);
    otherwise it writes itself into that leaf's ``cgroup.procs`` like the others."""
    sys.stdout.flush()
    sys.stderr.flush()
    leaf = request.get("cgroup")
    try:
        pid = _fork_into(leaf) if leaf else None
        if pid is None:
            if leaf:  # not born there: it enters the v2 leaf as it enters the v1 ones
                request["cgroups"].append(f"{leaf}/cgroup.procs")
            pid = os.fork()
    except OSError:
        return None
    if pid == 0:
        _child(request, fds)
    return pid


CLONE_INTO_CGROUP = 0x200000000
# clone3 is 435 on every architecture that has it since Linux 5.3, except alpha.
_CLONE3 = 435 if os.uname().machine in ("x86_64", "aarch64", "ppc64le", "s390x", "riscv64") else 0
_CLONE_ARGS = ("flags", "pidfd", "child_tid", "parent_tid", "exit_signal", "stack",
               "stack_size", "tls", "set_tid", "set_tid_size", "cgroup")  # fmt: skip
_clone3: list[Any] = []


def _glibc() -> tuple[int, ...]:
    """glibc's version; ``()`` under another C library."""
    name = os.confstr("CS_GNU_LIBC_VERSION") if "CS_GNU_LIBC_VERSION" in os.confstr_names else ""
    if not name or not name.startswith("glibc "):
        return ()
    return tuple(int(part) for part in name[6:].split(".")[:2] if part.isdigit())


def _load_clone3() -> Any:
    """``(syscall, ctypes, struct clone_args)``, ``syscall`` called with the GIL held as
    ``os.fork`` calls ``fork``; ``None`` where a bare clone is not a fork: a C library
    other than glibc 2.25+ caches the thread id (musl's ``raise`` would signal this
    process), and a second thread might hold a lock."""
    if not _clone3:
        loaded = None
        if _CLONE3 and _glibc() >= (2, 25):
            try:
                import ctypes

                class CloneArgs(ctypes.Structure):
                    _fields_ = [(name, ctypes.c_uint64) for name in _CLONE_ARGS]

                syscall = ctypes.PyDLL(None, use_errno=True).syscall
                syscall.restype = ctypes.c_long
                loaded = (syscall, ctypes, CloneArgs)
            except (ImportError, OSError, AttributeError):
                pass
        _clone3.append(loaded)
    return _clone3[0] if threading.active_count() == 1 else None


def _fork_into(leaf: str) -> int | None:
    """``os.fork``, the child born in the cgroup v2 ``leaf`` (``CLONE_INTO_CGROUP``, Linux
    5.7+); ``None`` where that is not to be had here.

    Moving a process by writing ``cgroup.procs`` takes the kernel's global
    ``cgroup_threadgroup_rwsem`` for writing, which waits out an RCU grace period (about
    10 ms) whenever no move came just before: most of a trivial hook's latency. Being
    born there takes it only for reading. This is ``os.fork`` with ``clone3`` in the
    middle: the same calls before and after, in the same (single-threaded) process."""
    loaded = _load_clone3()
    if loaded is None:
        return None
    syscall, ctypes, clone_args = loaded
    fd = os.open(leaf, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        args = clone_args(flags=CLONE_INTO_CGROUP, exit_signal=signal.SIGCHLD, cgroup=fd)
        ctypes.pythonapi.PyOS_BeforeFork()
        pid = syscall(_CLONE3, ctypes.byref(args), ctypes.c_size_t(ctypes.sizeof(args)))
        if pid == 0:
            ctypes.pythonapi.PyOS_AfterFork_Child()
            return 0
        error = ctypes.get_errno()
        ctypes.pythonapi.PyOS_AfterFork_Parent()
    finally:
        os.close(fd)
    if pid > 0:
        return int(pid)
    if error in (errno.ENOSYS, errno.EINVAL, errno.E2BIG):  # an older kernel: never again
        _clone3[0] = None
    return None


def main(argv: list[str]) -> None:
    control = socket.socket(fileno=int(argv[1]))
    _preload(argv[2:])
    _set_dumpable(0)
    serve(control)


if __name__ == "__main__":
    main(sys.argv)
