"""A hostile hook against a real daemon: it reaches none of the daemon's secrets, cannot
change its snapshot or kill the daemon, and nothing it starts outlives its run.

Run as root (as in CI): the hook account is ``nobody``; bubblewrap and a writable cgroup v2
tree are used where the host has them, and a test that needs one skips saying so.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import WorkRepo
from daemon_harness import RunningDaemon, wait_for_run

from hookrunner import session_hooks
from hookrunner.config import ExecutorSettings
from hookrunner.execution import (
    Isolation,
    Limits,
    Outcome,
    RunResult,
    RunSpec,
    WarmPolicy,
    execute,
)
from hookrunner.execution import warm as warm_module
from hookrunner.execution.cgroups import SPARE_LEAVES, CgroupTree
from hookrunner.execution.errors import IsolationUnavailable
from hookrunner.execution.isolation import setup as isolation_setup
from hookrunner.hook_runtime import HookRuntime
from hookrunner.journal.sqlite import MIGRATIONS, SqliteJournal
from hookrunner.payloads import parse_session_event
from hookrunner.repo import Snapshot, build_index

HOOK_ACCOUNT = "nobody"
SYSTEM_PYTHON = "/usr/bin/python3"
GIT_PASSWORD = "git-password-7f3a9c"
HOOP_SECRET_FILE_VALUE = "whsec_c2VjcmV0LWZyb20tY3JlZGVudGlhbHM="
INJECTED = "INJECTED-BY-HOOK"

SELECTOR = """\
import json, os, runpy
name = json.loads(os.environ["HOOP_RUNBOOK_HOOK_PAYLOAD"])["event_session_open"]["connection_name"]
runpy.run_path(os.path.join(os.path.dirname(__file__), name + ".py"), run_name="__main__")
"""
# Everything finding 1 did, tried again; the report says what worked.
ATTACK = f"""
import json, os, signal
targets = json.loads(os.environ["ATTACK_TARGETS"])

def read(path):
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except OSError:
        return None

def listing(path):
    try:
        return sorted(os.listdir(path))
    except OSError:
        return None

report = {{"environ": [], "killed": []}}
for pid in filter(str.isdigit, os.listdir("/proc")):
    if b"{GIT_PASSWORD}" in (read("/proc/" + pid + "/environ") or b""):
        report["environ"].append(pid)
report["readable"] = sorted(name for name, path in targets["files"].items() if read(path))
report["credentials"] = listing(targets["credentials"])
hook = os.path.join(os.path.dirname(os.path.abspath(__file__)), "attack.py")
try:
    os.chmod(hook, 0o666)
    report["chmod"] = True
except OSError:
    report["chmod"] = False
try:
    with open(hook, "a") as handle:
        handle.write("\\nprint('{INJECTED}')\\n")
    report["rewrite"] = True
except OSError:
    report["rewrite"] = False
daemon = int(read(targets["daemon_pid"]) or 0)  # 0: the file is out of sight
for pid in [int(p) for p in filter(str.isdigit, os.listdir("/proc"))] + [daemon]:
    command = read("/proc/%d/cmdline" % pid) or b""
    daemon_like = b"hookrunner" in command and b"serve" in command
    if pid > 1 and pid != os.getpid() and (pid == daemon or daemon_like):
        try:
            os.kill(pid, signal.SIGKILL)
            report["killed"].append(pid)
        except OSError:
            pass
print(json.dumps(report))
"""
ATTACK_IMPL = f"""
import json, os, signal
try:
    daemon = int(open(json.loads(os.environ["ATTACK_TARGETS"])["daemon_pid"]).read())
    os.kill(daemon, signal.SIGKILL)
    print("{INJECTED}")
except (OSError, ValueError):
    pass

from hookrunner.sdk import hook

@hook
def on_prompt(event):
    return None
"""


@pytest.fixture
def private_base() -> Iterator[Path]:
    """pytest's tmp dirs are private to root; the hook account must pass through this one."""
    base = Path(tempfile.mkdtemp(prefix="hookrunner-isolation-"))
    base.chmod(0o711)
    yield base
    shutil.rmtree(base, ignore_errors=True)


def needs_root() -> None:
    if os.geteuid() != 0:
        pytest.skip("switching to the hook account needs root")


def needs_bwrap() -> None:
    if shutil.which("bwrap") is None:
        pytest.skip("bubblewrap (bwrap) is not installed")


def needs_cgroup() -> None:
    try:
        CgroupTree.setup().close()
    except IsolationUnavailable as exc:
        pytest.skip(f"no writable cgroup v2 tree here: {exc}")


class Target:
    """A daemon set up as packaged: secrets as credentials, config and tokens private."""

    def __init__(self, base: Path, work_repo: WorkRepo, executor: dict[str, Any]) -> None:
        credentials = base / "credentials"
        credentials.mkdir(mode=0o700)
        (credentials / "hoop_webhook_secret").write_text(HOOP_SECRET_FILE_VALUE)
        (credentials / "git_password").write_text(GIT_PASSWORD)
        self.credentials = credentials
        self.mode = executor["mode"]
        self.pid_file = base / "daemon.pid"
        self.daemon = RunningDaemon(
            base,
            str(work_repo.bare),
            repo={"password_file": "git_password"},
            webhooks={"hoop_secret": "", "hoop_secret_file": "hoop_webhook_secret"},
            executor={"timeout": 20, **executor, "env": {"ATTACK_TARGETS": self.targets()}},
        )
        for private in (self.daemon.config, self.daemon.dir / "tokens.toml"):
            private.chmod(0o600)  # as the packaged tmpfiles.d makes them

    def targets(self) -> str:
        files = {
            "config": self.daemon_dir() / "hookrunner.toml",
            "tokens": self.daemon_dir() / "tokens.toml",
            "journal": self.daemon_dir() / "state" / "hookrunner.db",
            "hoop_secret": self.credentials / "hoop_webhook_secret",
            "git_password": self.credentials / "git_password",
        }
        return json.dumps(
            {
                "files": {name: str(path) for name, path in files.items()},
                "credentials": str(self.credentials),
                "daemon_pid": str(self.pid_file),
            }
        )

    def daemon_dir(self) -> Path:
        return self.credentials.parent / "daemon"

    def start(self) -> None:
        self.daemon.start(env={"GIT_PASSWORD": GIT_PASSWORD,
                               "CREDENTIALS_DIRECTORY": str(self.credentials)})  # fmt: skip
        assert self.daemon.process is not None
        self.pid_file.write_text(str(self.daemon.process.pid))
        self.pid_file.chmod(0o644)


def run_session_hook(daemon: RunningDaemon, name: str, timeout: float = 90) -> dict[str, Any]:
    with daemon.client("events-token") as events, daemon.client("read-token") as reader:
        answer = events.post("/v1/events/session-open", json={"sid": name, "connection_name": name})
        assert answer.status_code == 202, answer.text
        return wait_for_run(reader, answer.json()["run_ids"][0], timeout=timeout)


def daemon_alive(daemon: RunningDaemon) -> bool:
    assert daemon.process is not None
    with daemon.client("read-token") as reader:
        return daemon.process.poll() is None and reader.get("/healthz").status_code == 200


SETUPS = {
    # The packaged settings: a separate hook account (with and without the sandbox).
    "hook-account": {"user": HOOK_ACCOUNT, "sandbox": "none"},
    "hook-account-in-bwrap": {"user": HOOK_ACCOUNT, "sandbox": "bwrap"},
    # Hooks that share the daemon's own user (root here) are held by the sandbox alone.
    "shared-user-in-bwrap": {"user": "", "sandbox": "bwrap"},
}


MODES = ["spawn", "warm"]


def hook_starts(daemon: RunningDaemon) -> dict[str, float]:
    """How the daemon has started hooks so far: mode -> count."""
    with daemon.client("read-token") as reader:
        metrics = reader.get("/metrics").text
    starts = {}
    for line in metrics.splitlines():
        if line.startswith("hookrunner_hook_starts_total{"):
            mode = line.split('mode="', 1)[1].split('"', 1)[0]
            starts[mode] = float(line.rsplit(" ", 1)[1])
    return starts


def check_mode(daemon: RunningDaemon, mode: str) -> None:
    """Warm mode forked every hook, sandboxed or not (none was spawned instead), and
    ``status`` says so."""
    starts = hook_starts(daemon)
    forked = mode == "warm"
    assert (starts.get("warm", 0) > 0) == forked, starts
    with daemon.client("read-token") as reader:
        warm = reader.get("/v1/status").json()["isolation"]["warm"]
    assert (starts.get("spawn", 0) > 0) == (not forked), (starts, warm)
    assert (warm["interpreters"] > 0) == forked, warm
    assert warm["fallbacks"] == [], warm


@pytest.fixture(params=[(setup, mode) for setup in sorted(SETUPS) for mode in MODES],
                ids=lambda param: "-".join(param))  # fmt: skip
def target(
    request: pytest.FixtureRequest, private_base: Path, work_repo: WorkRepo
) -> Iterator[Target]:
    needs_root()
    setup, mode = request.param
    executor = {**SETUPS[setup], "mode": mode}
    if executor["sandbox"] == "bwrap":
        needs_bwrap()
    executor["interpreter"] = SYSTEM_PYTHON if executor["user"] else sys.executable
    work_repo.commit(
        {
            "hoop-hooks/session-open.runbook.py": SELECTOR,
            "hoop-hooks/attack.py": ATTACK,
            "flows/attack/impl.py": ATTACK_IMPL,
        }
    )
    target = Target(private_base, work_repo, executor)
    target.start()
    yield target
    target.daemon.stop()


def test_a_hook_reaches_no_secret_cannot_change_its_snapshot_or_kill_the_daemon(
    target: Target,
) -> None:
    daemon = target.daemon
    for attempt in (1, 2):  # the second run executes the snapshot again
        run = run_session_hook(daemon, "attack")
        assert run["status"] == "succeeded", (run["exit_code"], run["stdout"], run["stderr"])
        assert INJECTED not in run["stdout"]
        report = json.loads(run["stdout"].strip().splitlines()[-1])
        assert report == {
            "environ": [], "readable": [], "credentials": report["credentials"],
            "chmod": False, "rewrite": False, "killed": [],
        }, attempt  # fmt: skip
        assert report["credentials"] in (None, [])  # refused, or an empty mount
        assert daemon_alive(daemon)
    check_mode(daemon, target.mode)


def test_a_flow_hook_cannot_kill_the_daemon(target: Target) -> None:
    daemon = target.daemon
    with daemon.client("flows-token") as client:
        answer = client.post("/v1/flows/attack/prompt", json={"user": {"email": "a@example.com"}})
    assert answer.status_code == 200, answer.text
    assert daemon_alive(target.daemon)
    check_mode(daemon, target.mode)


# Finding 2: what escaped the process-group and marker cleanup. Each leaves something
# behind that the test finds from outside: a ``sleep 100N.<MARK>`` or a fake kernel thread.
# MARK tells this test session's sleeps from those of another suite on the same machine.
MARK = f"{secrets.randbelow(10**6):06d}"
ESCAPES = {
    "setsid_env_i": """
import subprocess
subprocess.run(["sh", "-c", "(setsid env -i sh -c 'sleep 1001.@MARK@' &)"], check=True)
print("started")
""",
    "kworker": """
import ctypes, os, time
if os.fork() == 0:
    os.setsid()
    libc = ctypes.CDLL(None)
    libc.strlen.restype = ctypes.c_size_t
    libc.strlen.argtypes = [ctypes.c_void_p]
    environ = ctypes.POINTER(ctypes.c_void_p).in_dll(libc, "environ")
    n = 0
    while environ[n]:
        ctypes.memset(environ[n], 0, libc.strlen(environ[n]))
        n += 1
    libc.prctl(15, b"kworker/0:1", 0, 0, 0)
    time.sleep(1002)
    os._exit(0)
time.sleep(0.5)
print("started")
""",
    "timeout": """
import subprocess, time
subprocess.run(["sh", "-c", "(setsid env -i sh -c 'sleep 1003.@MARK@' &)"], check=True)
time.sleep(600)
""",
    "fork_loop": """
import os, time
for _ in range(245):
    if os.fork() == 0:
        os.setsid()
        os.execvpe("sleep", ["sleep", "1004.@MARK@"], {})
print("forked")
""",
    "trivial": "print('ok')\n",
}
ESCAPES = {name: source.replace("@MARK@", MARK) for name, source in ESCAPES.items()}


def escaped(root: Path) -> list[str]:
    """Processes the hooks above left: ``sleep 100N.<MARK>`` (or the shell about to exec it), a
    user-space kworker running from the test's own files, or anything still running from
    them (``root``): another test session on the same machine runs the same hooks."""
    found = []
    for entry in Path("/proc").iterdir():
        with contextlib.suppress(OSError):
            if not entry.name.isdigit():
                continue
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ")
            comm = (entry / "comm").read_text().strip()
            here = os.readlink(entry / "cwd").startswith(str(root))
            hook = str(root).encode() in command and b"/hoop-hooks/" in command
            mine = b"sleep 100" in command and f".{MARK}".encode() in command
            ours = mine or hook
            if ours or (comm == "kworker/0:1" and command and here):
                found.append(f"{entry.name}: {comm} {command!r}")
    return found


class EscapeDaemon(RunningDaemon):
    mode = "spawn"


@pytest.fixture(params=[(sandbox, mode) for sandbox in ("none", "bwrap") for mode in MODES],
                ids=lambda param: "-".join(param))  # fmt: skip
def escape_daemon(
    request: pytest.FixtureRequest, tmp_path: Path, work_repo: WorkRepo
) -> Iterator[EscapeDaemon]:
    needs_cgroup()
    sandbox, mode = request.param
    if sandbox == "bwrap":
        needs_bwrap()
    work_repo.commit(
        {"hoop-hooks/session-open.runbook.py": SELECTOR}
        | {f"hoop-hooks/{name}.py": source for name, source in ESCAPES.items()}
    )
    executor = {"interpreter": sys.executable, "timeout": 3, "kill_grace": 0.5, "mode": mode,
                "cgroup": "required", "sandbox": sandbox, "max_processes": 1024}  # fmt: skip
    daemon = EscapeDaemon(
        tmp_path, str(work_repo.bare), executor=executor, retry={"max_attempts": 3}
    )
    daemon.mode = mode
    daemon.start()
    yield daemon
    daemon.stop()
    for line in escaped(tmp_path):  # never leave a mess behind, even when the test failed
        with contextlib.suppress(ProcessLookupError):
            os.kill(int(line.split(":")[0]), 9)


@pytest.mark.parametrize("escape", ["setsid_env_i", "kworker", "fork_loop"])
def test_nothing_a_hook_starts_outlives_its_run(
    escape_daemon: EscapeDaemon, escape: str, tmp_path: Path
) -> None:
    run = run_session_hook(escape_daemon, escape)
    assert run["status"] == "succeeded", (run["stdout"], run["stderr"])
    assert escaped(tmp_path) == []
    assert run_session_hook(escape_daemon, "trivial")["status"] == "succeeded"
    check_mode(escape_daemon, escape_daemon.mode)


def test_a_hook_that_times_out_on_every_attempt_leaves_nothing(
    escape_daemon: EscapeDaemon, tmp_path: Path
) -> None:
    run = run_session_hook(escape_daemon, "timeout")
    assert run["status"] == "dead" and run["attempt"] == 3 and run["outcome"] == "timed_out"
    assert escaped(tmp_path) == []
    check_mode(escape_daemon, escape_daemon.mode)


def test_the_run_record_has_the_cgroups_cpu_time(escape_daemon: EscapeDaemon) -> None:
    run = run_session_hook(escape_daemon, "fork_loop")
    assert run["cpu_s"] is not None and run["cpu_s"] > 0
    with escape_daemon.client("read-token") as reader:
        metrics = reader.get("/metrics").text
    assert "hookrunner_run_cpu_seconds_count" in metrics


def cgroup2_mount() -> str:
    found = subprocess.run(["findmnt", "-n", "-t", "cgroup2", "-o", "TARGET"],
                           capture_output=True, text=True, check=False)  # fmt: skip
    return found.stdout.split("\n", 1)[0].strip()


def without_cgroups_or_bwrap() -> list[str]:
    """A command prefix: the rest runs where the cgroup v2 tree is read-only and bwrap is
    not executable (a private mount namespace, as on a host without either)."""
    needs_root()
    mount = cgroup2_mount()
    if not mount or shutil.which("unshare") is None:
        pytest.skip("needs unshare(1) and a cgroup v2 mount")
    hide = ['mount -o remount,bind,ro "$1"']
    if shutil.which("bwrap"):
        hide.append(f"mount --bind /dev/null {shutil.which('bwrap')}")
    script = " && ".join(hide) + ' && shift && exec "$@"'
    return ["unshare", "--mount", "--propagation", "private", "sh", "-c", script, "sh", mount]


@pytest.mark.parametrize(
    ("executor", "complaint"),
    [
        ({"cgroup": "required"}, "executor.cgroup = required: "),
        ({"sandbox": "bwrap", "cgroup": "off"}, "executor.sandbox = bwrap: "),
        ({"user": "no-such-account-here"}, "executor.user: no account named"),
    ],
)
def test_a_required_part_that_is_missing_refuses_to_start_in_one_line(
    tmp_path: Path, work_repo: WorkRepo, executor: dict[str, str], complaint: str
) -> None:
    daemon = RunningDaemon(tmp_path, str(work_repo.bare), executor=executor)
    started = subprocess.run(
        [*without_cgroups_or_bwrap(), *daemon.command()],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert started.returncode != 0
    lines = started.stderr.strip().splitlines()
    assert len(lines) == 1 and complaint in lines[0], started.stderr


def test_auto_falls_back_and_says_so_at_start_and_in_status(
    tmp_path: Path, work_repo: WorkRepo
) -> None:
    daemon = RunningDaemon(tmp_path, str(work_repo.bare), executor={"sandbox": "auto"})
    daemon.start(prefix=without_cgroups_or_bwrap())
    try:
        with daemon.client("read-token") as reader:
            isolation = reader.get("/v1/status").json()["isolation"]
            assert wait_for_run(reader, run_session_hook(daemon, "x")["run_id"])
    finally:
        daemon.stop()
    assert isolation["sandbox"] == "none" and isolation["cgroup"] is None
    said = " ".join(isolation["warnings"])
    assert "hooks run as the daemon's own user" in said
    assert "no sandbox for hooks" in said and "process-group cleanup only" in said
    assert "process-group cleanup only" in daemon.log_text()


def test_status_names_the_hook_account_sandbox_and_enforced_limits(
    private_base: Path, work_repo: WorkRepo
) -> None:
    needs_root()
    needs_bwrap()
    needs_cgroup()
    executor = {"user": HOOK_ACCOUNT, "interpreter": SYSTEM_PYTHON, "sandbox": "auto"}
    daemon = RunningDaemon(private_base, str(work_repo.bare), executor=executor)
    daemon.start()
    try:
        with daemon.client("read-token") as reader:
            isolation = reader.get("/v1/status").json()["isolation"]
    finally:
        daemon.stop()
    assert isolation["hook_user"] == HOOK_ACCOUNT and isolation["sandbox"] == "bwrap"
    assert "cgroup.kill" in isolation["cgroup"]
    assert not any("daemon's own user" in warning for warning in isolation["warnings"])
    # A limit is said to be rlimits only exactly when neither hierarchy enforces it.
    enforced = " ".join(isolation["cgroup"])
    for controller in ("memory", "pids"):
        warned = any(
            "rlimits only" in warning and controller in warning.split(":")[0]
            for warning in isolation["warnings"]
        )
        assert warned != (f"{controller}." in enforced), (controller, isolation)


# The executor alone, with a real sandbox and real cgroups (no daemon): fast checks of
# what the daemon tests above rely on.
LIMITS = Limits(max_processes=4096, max_memory_bytes=1 << 30, max_file_bytes=1 << 26)


def hook_spec(directory: Path, source: str, **fields: Any) -> RunSpec:
    script = directory / "hook.py"
    script.write_text(textwrap.dedent(source))
    return RunSpec(
        argv=[sys.executable, str(script)], cwd=directory, env={"PATH": os.defpath},
        timeout=fields.pop("timeout", 30), kill_grace=fields.pop("kill_grace", 5),
        max_output_bytes=65536, limits=LIMITS, **fields,
    )  # fmt: skip


def warm(mode: str) -> WarmPolicy | None:
    return WarmPolicy() if mode == "warm" else None


def sandbox_and_cgroup(hidden: list[Path], readable: list[Path], user: str = "") -> Isolation:
    needs_bwrap()
    needs_cgroup()
    return isolation_setup(user, "bwrap", "required", hidden, readable)


def test_a_sandboxed_hook_sees_its_files_and_snapshot_but_nothing_hidden(tmp_path: Path) -> None:
    snapshot, secret = tmp_path / "snapshot", tmp_path / "state"
    snapshot.mkdir()
    secret.mkdir()
    (secret / "journal").write_text("private")
    outside_tmp = Path(tempfile.mkstemp(prefix="hookrunner-outside-")[1])
    source = f"""
        import json, os
        print(json.dumps({{
            "payload": open(os.environ["PAYLOAD_FILE"]).read(),
            "hidden": os.listdir({str(secret)!r}),
            "host_tmp": os.path.exists({str(outside_tmp)!r}),
            "own_processes": sorted(int(p) for p in os.listdir("/proc") if p.isdigit()),
        }}))
        open(os.environ["RESULT_FILE"], "w").write("answer")
    """
    spec = hook_spec(snapshot, source, files={"PAYLOAD_FILE": b"payload", "RESULT_FILE": b""},
                     collect=("RESULT_FILE",))  # fmt: skip
    isolation = sandbox_and_cgroup([secret], [snapshot])
    try:
        outcome = asyncio.run(execute(spec, isolation))
    finally:
        isolation.close()
        outside_tmp.unlink()
    assert outcome.status == "succeeded", outcome.stderr
    seen = json.loads(outcome.stdout)
    assert seen["payload"] == "payload" and seen["hidden"] == [] and seen["host_tmp"] is False
    assert max(seen["own_processes"]) < 10  # its own PID namespace: bwrap's init and itself
    assert outcome.collected == {"RESULT_FILE": b"answer"}


def test_a_sandboxed_daemon_and_a_dry_run_in_one_process_keep_their_own_isolation(
    tmp_path: Path,
) -> None:
    """Session hooks of two runtimes, run at once in one process: only the sandboxed
    runtime's hook is kept from the hidden directory."""
    tree, secret = tmp_path / "tree", tmp_path / "state"
    (tree / "hoop-hooks").mkdir(parents=True)
    secret.mkdir()
    (secret / "journal").write_text("private")
    hook = f"import os\nprint(os.path.exists({str(secret / 'journal')!r}))\n"
    (tree / "hoop-hooks" / "session-open.runbook.py").write_text(hook)
    index = build_index(Snapshot("c0ffee", tree))
    event = parse_session_event("session-open", {"sid": "s", "connection_name": "c"})
    daemon = HookRuntime(isolation=sandbox_and_cgroup([secret], [tree]))
    dry_run = HookRuntime()

    async def both() -> list[RunResult]:
        return await asyncio.gather(
            *(
                session_hooks.run_session_hook(
                    event, index, ExecutorSettings(), runtime, run_id="r", event_id="e", attempt=1
                )
                for runtime in (daemon, dry_run, daemon)
            )
        )

    try:
        results = asyncio.run(both())
    finally:
        daemon.isolation.close()
    assert all(result.status == "succeeded" for result in results), [r.stderr for r in results]
    assert [result.stdout.strip() for result in results] == ["False", "True", "False"]


def test_a_reprobe_keeps_the_cgroup_tree_and_the_runs_in_it(tmp_path: Path) -> None:
    """A reload probes isolation again; a hook already running in a run cgroup is not
    killed by it (setting the tree up again would remove its leaf)."""
    needs_cgroup()
    started = tmp_path / "started"
    source = f"""
        import pathlib, time
        pathlib.Path({str(started)!r}).touch()
        time.sleep(1)
        print("finished")
    """
    isolation = isolation_setup("", "none", "required", [], [])
    reprobed: list[Isolation] = []

    async def reload_while_running() -> Outcome:
        run = asyncio.create_task(execute(hook_spec(tmp_path, source), isolation))
        while not started.exists():
            await asyncio.sleep(0.02)
        reprobed.append(isolation.reprobe("", "none", "required", [], []))
        return await run

    try:
        outcome = asyncio.run(reload_while_running())
    finally:
        isolation.close()
    assert outcome.status == "succeeded" and outcome.stdout.strip() == "finished", outcome
    assert reprobed[0].cgroups is isolation.cgroups and reprobed[0].warm is isolation.warm


def test_a_timed_out_sandboxed_hook_gets_sigterm_before_the_kill(tmp_path: Path) -> None:
    source = """
        import signal, sys, time
        def leave(*_):
            print("cleaned up", flush=True)
            sys.exit(3)
        signal.signal(signal.SIGTERM, leave)
        print("waiting", flush=True)
        time.sleep(600)
    """
    isolation = sandbox_and_cgroup([], [tmp_path])
    try:
        outcome = asyncio.run(execute(hook_spec(tmp_path, source, timeout=2), isolation))
    finally:
        isolation.close()
    assert outcome.status == "timed_out" and "cleaned up" in outcome.stdout


# Two runs forked by one interpreter in one sandbox at the same time: the first holds its
# files open until the second has tried everything against it and against the sandbox.
HOLDER = """
    import json, os, socket
    with open("/tmp/holder-secret", "w") as handle:
        handle.write("tmp of the first run")
    with open("/dev/shm/holder-shm", "w") as handle:
        handle.write("shm of the first run")
    connection = socket.create_connection(("127.0.0.1", int(os.environ["PORT"])))
    connection.sendall(os.environ["PAYLOAD_FILE"].encode())
    connection.recv(16)  # the second run has finished
    print(json.dumps([open(os.environ["PAYLOAD_FILE"]).read(),
                      open("/tmp/holder-secret").read()]))
"""
INTRUDER = """
    import ctypes, errno, json, os, signal
    libc = ctypes.CDLL(None, use_errno=True)
    targets = json.loads(os.environ["TARGETS"])  # pids as the host sees them

    def readable(path):
        try:
            with open(path, "rb") as handle:
                return handle.read().decode()
        except OSError:
            return None

    def listing(path):
        try:
            return sorted(os.listdir(path))
        except OSError:
            return None

    def writable(path):
        try:
            with open(path, "w") as handle:
                handle.write("0")
            return True
        except OSError:
            return False

    status = dict(line.split(":", 1) for line in open("/proc/self/status"))
    files = os.path.dirname(os.path.dirname(os.environ["PAYLOAD_FILE"]))
    report = {
        "holder_payload": readable(os.environ["HOLDER_PAYLOAD"]),
        "holder_tmp": readable("/tmp/holder-secret"),
        "holder_shm": readable("/dev/shm/holder-shm"),
        "own_payload": readable(os.environ["PAYLOAD_FILE"]),
        "runs_files": listing(files) == [os.path.basename(os.path.dirname(
            os.environ["PAYLOAD_FILE"]))],
        "pids": sorted(int(pid) for pid in os.listdir("/proc") if pid.isdigit()),
        "init_environ": readable("/proc/1/environ"),
        "init_root": listing("/proc/1/root/tmp"),
        "caps": {name: int(status[name], 16) for name in
                 ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb")},
        "no_new_privs": status["NoNewPrivs"].strip(),
        "unshare_user": libc.unshare(0x10000000) == 0,
        "unshare_mount": libc.unshare(0x00020000) == 0,
        "mount": libc.mount(b"tmpfs", b"/mnt", b"tmpfs", 0, None) == 0,
        "umount": libc.umount2(b"/tmp", 2) == 0,
        "userns_limit": writable("/proc/sys/user/max_user_namespaces"),
        "dev": writable("/dev/planted"),
        "signalled": [],
    }
    for pid in [1, *targets]:
        try:
            os.kill(pid, signal.SIGKILL)
            report["signalled"].append(pid)
        except OSError:
            pass
    try:
        os.kill(-1, signal.SIGKILL)  # everything this run may signal but itself and init
    except OSError:
        pass
    print(json.dumps(report))
"""


@pytest.mark.parametrize("user", ["", HOOK_ACCOUNT])
def test_a_warm_sandboxed_run_reaches_no_other_run_nor_its_forking_interpreter(
    private_base: Path, user: str
) -> None:
    needs_root()
    directory = private_base / "snapshot"
    directory.mkdir(mode=0o755)
    isolation = sandbox_and_cgroup([], [directory], user)
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def spec(name: str, source: str, env: dict[str, str]) -> RunSpec:
        (directory / f"{name}.py").write_text(textwrap.dedent(source))
        return RunSpec(
            argv=[SYSTEM_PYTHON, str(directory / f"{name}.py")], cwd=directory,
            env={"PATH": os.defpath, **env}, timeout=60, kill_grace=5, max_output_bytes=65536,
            limits=LIMITS, user=user, files={"PAYLOAD_FILE": name.encode()}, warm=WarmPolicy(),
        )  # fmt: skip

    async def both() -> tuple[Any, Any, list[int]]:
        holder_spec = spec("holder", HOLDER, {"PORT": str(port)})
        holding = asyncio.ensure_future(execute(holder_spec, isolation))
        loop = asyncio.get_running_loop()
        listener.setblocking(False)
        connection, _ = await asyncio.wait_for(loop.sock_accept(listener), 60)
        payload = (await loop.sock_recv(connection, 4096)).decode()
        servers = forking_interpreters()
        targets = [*servers, *descendants(servers[0])]  # the holder's processes among them
        env = {"HOLDER_PAYLOAD": payload, "TARGETS": json.dumps(targets)}
        intruding = await execute(spec("intruder", INTRUDER, env), isolation)
        await loop.sock_sendall(connection, b"done")
        connection.close()
        return await holding, intruding, servers

    try:
        holder, intruder, servers = asyncio.run(both())
        again = asyncio.run(execute(spec("again", "print('ok')", {}), isolation))
        warm = isolation.warm.status()
    finally:
        listener.close()
        isolation.close()
    assert (holder.mode, intruder.mode, again.mode) == ("warm", "warm", "warm")
    assert holder.status == "succeeded", holder.stderr
    assert json.loads(holder.stdout) == ["holder", "tmp of the first run"]
    assert intruder.status == "succeeded", (intruder.exit_code, intruder.stdout, intruder.stderr)
    report = json.loads(intruder.stdout)
    assert report == {
        "holder_payload": None, "holder_tmp": None, "holder_shm": None,
        "own_payload": "intruder", "runs_files": True, "pids": [1, 2],
        "init_environ": None, "init_root": None,
        "caps": dict.fromkeys(("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"), 0),
        "no_new_privs": "1", "unshare_user": False, "unshare_mount": False, "mount": False,
        "umount": False, "userns_limit": False, "dev": False,
        "signalled": report["signalled"],
    }  # fmt: skip
    assert set(report["signalled"]) <= {1}  # its own init, which ignores it; nothing else
    assert again.status == "succeeded" and warm == {"interpreters": 1, "fallbacks": []}
    assert len(servers) == 1


def test_a_sandbox_step_that_fails_runs_nothing_of_the_hook_and_spawns_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    isolation = sandbox_and_cgroup([], [tmp_path])
    layout = isolation.sandbox.run_layout if isolation.sandbox else None
    assert layout is not None

    def broken(private_dir: Path | None) -> dict[str, Any]:  # a directory that is gone
        return {**layout(private_dir), "keep": [str(tmp_path / "gone")]}

    monkeypatch.setattr(isolation.sandbox, "run_layout", broken)
    source = """
        import os
        with open(os.environ["RESULT_FILE"], "a") as handle:
            handle.write("ran\\n")
    """
    spec = hook_spec(tmp_path, source, files={"RESULT_FILE": b""}, collect=("RESULT_FILE",),
                     warm=WarmPolicy())  # fmt: skip
    try:
        outcome = asyncio.run(execute(spec, isolation))
        fallbacks = isolation.warm.status()["fallbacks"]
    finally:
        isolation.close()
    assert outcome.mode == "spawn" and outcome.status == "succeeded", outcome.stderr
    assert outcome.collected == {"RESULT_FILE": b"ran\n"}  # once: the refused child ran none
    assert any("No such file or directory" in reason for reason in fallbacks), fallbacks


@pytest.mark.parametrize("sandboxed", [True, False], ids=["bwrap", "cgroup-only"])
def test_a_warm_run_the_daemon_gave_up_on_runs_nothing_of_the_hook(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sandboxed: bool
) -> None:
    async def gave_up_once_ready(channel: socket.socket) -> int:
        """The daemon gives up on the child just after it said "ready"."""
        await warm_module._readable(channel)
        raise TimeoutError

    monkeypatch.setattr(warm_module, "_ready", gave_up_once_ready)
    if sandboxed:
        isolation = sandbox_and_cgroup([], [tmp_path])
    else:
        needs_cgroup()
        isolation = isolation_setup("", "none", "required", [], [])
    listener = socket.create_server(("127.0.0.1", 0))
    source = f"""
        import socket
        socket.create_connection(("127.0.0.1", {listener.getsockname()[1]})).sendall(b"ran")
    """
    try:
        outcome = asyncio.run(execute(hook_spec(tmp_path, source, warm=WarmPolicy()), isolation))
    finally:
        isolation.close()  # waits for what the forking interpreter started
    listener.settimeout(0.5)
    ran = []
    with contextlib.suppress(TimeoutError):
        while True:
            ran.append(listener.accept()[0].recv(16))
    listener.close()
    assert outcome.mode == "spawn" and outcome.status == "succeeded", outcome.stderr
    assert ran == [b"ran"]  # the spawned run; the forked child never ran the hook


def descendants(pid: int) -> list[int]:
    children = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        children += [int(child) for child in (task / "children").read_text().split()]
    return [found for child in children for found in [child, *descendants(child)]]


def forking_interpreters() -> list[int]:
    """The forking interpreters this test started (not the children they forked)."""
    running = {}
    for pid in descendants(os.getpid()):
        with contextlib.suppress(OSError):
            command = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            if command[1:2] and command[1].endswith(b"forkserver.py"):
                status = Path(f"/proc/{pid}/status").read_text()
                running[pid] = int(status.split("PPid:")[1].split()[0])
    return [pid for pid, parent in running.items() if parent not in running]


@pytest.mark.parametrize("mode", MODES)
def test_the_run_cgroup_measures_cpu_time_and_peak_memory(tmp_path: Path, mode: str) -> None:
    needs_cgroup()
    source = """
        import time
        block = bytearray(64 << 20)
        for page in range(0, len(block), 4096):
            block[page] = 1
        deadline = time.process_time() + 0.3
        while time.process_time() < deadline:
            pass
    """
    isolation = isolation_setup("", "none", "required", [], [])
    assert isolation.cgroups is not None
    try:
        outcome = asyncio.run(execute(hook_spec(tmp_path, source, warm=warm(mode)), isolation))
    finally:
        isolation.close()
    assert outcome.status == "succeeded", outcome.stderr
    assert outcome.mode == mode
    assert outcome.cpu_s is not None and outcome.cpu_s >= 0.25
    if any(limit.startswith("memory") for limit in isolation.cgroups.enforced):
        assert outcome.peak_memory_bytes is not None and outcome.peak_memory_bytes > 64 << 20
    else:  # no memory controller for the daemon here
        assert outcome.peak_memory_bytes is None


@pytest.mark.parametrize("mode", MODES)
def test_the_run_cgroup_bounds_processes_even_for_root(tmp_path: Path, mode: str) -> None:
    needs_cgroup()
    source = """
        import os, time
        started = 0
        try:
            for _ in range(200):
                if os.fork() == 0:
                    time.sleep(60)
                    os._exit(0)
                started += 1
        except OSError:
            pass
        print(started)
    """
    isolation = isolation_setup("", "none", "required", [], [])
    assert isolation.cgroups is not None
    if not any(limit.startswith("pids") for limit in isolation.cgroups.enforced):
        isolation.close()
        pytest.skip("no pids controller for the daemon's cgroups here")
    spec = hook_spec(tmp_path, source, warm=warm(mode))
    spec = RunSpec(**{**spec.__dict__, "limits": LIMITS._replace(max_processes=32)})
    try:
        outcome = asyncio.run(execute(spec, isolation))
    finally:
        isolation.close()
    assert outcome.status == "succeeded", outcome.stderr
    assert outcome.mode == mode
    assert int(outcome.stdout) < 32  # the hook itself is one of the 32


@pytest.mark.parametrize("mode", MODES)
def test_each_run_gets_a_leaf_of_its_own_made_ahead_and_clean(tmp_path: Path, mode: str) -> None:
    """Leaves are made ahead of need: each is handed to one run only, holds nothing
    when it is, and carries that run's limits."""
    needs_cgroup()
    source = """
        leaf = next(line for line in open("/proc/self/cgroup") if line.startswith("0::"))
        print(leaf.strip().rsplit("/", 1)[1])
    """
    isolation = isolation_setup("", "none", "required", [], [])
    tree = isolation.cgroups
    assert tree is not None
    small = LIMITS._replace(max_processes=77)
    try:
        tree.prepare(small)
        spares = [path.name for path in tree.runs.iterdir() if path.is_dir()]
        assert len(spares) == SPARE_LEAVES
        seen = []
        for _ in range(2 * SPARE_LEAVES + 1):
            spec = hook_spec(tmp_path, source, warm=warm(mode))
            spec = RunSpec(**{**spec.__dict__, "limits": small})
            outcome = asyncio.run(execute(spec, isolation))
            assert outcome.status == "succeeded" and outcome.mode == mode, outcome.stderr
            seen.append(outcome.stdout.strip())
        assert len(set(seen)) == len(seen), seen  # never a leaf twice
        assert set(spares) <= set(seen)  # the spares were used
        interpreters = {server.leaf.path for server in isolation.warm.servers.values()}
        left = [path for path in tree.runs.iterdir() if path.is_dir()]
        left = [path for path in left if path not in interpreters]
        assert len(left) == SPARE_LEAVES
        for spare in left:  # what is left for the next runs: empty, limited
            assert (spare / "cgroup.procs").read_text() == ""
            if "pids" in tree.controllers:
                assert (spare / "pids.max").read_text().strip() == "77"
            elif "pids" in tree.v1:
                assert (tree.v1["pids"] / spare.name / "pids.max").read_text().strip() == "77"
            assert spare.name not in seen
    finally:
        isolation.close()


def test_a_journal_from_before_keeps_its_runs_and_gains_the_usage_columns(tmp_path: Path) -> None:
    path = tmp_path / "hookrunner.db"
    with contextlib.closing(sqlite3.connect(path)) as old:  # as the previous release left it
        for number, script in enumerate(MIGRATIONS[:2], start=1):
            old.executescript(f"BEGIN;\n{script}\nPRAGMA user_version={number};\nCOMMIT;")
        old.execute("INSERT INTO events VALUES ('e1', 'session-open', '{}', 1.0)")
        # A run the previous release left running: its attempt was cut short by the upgrade.
        old.execute("INSERT INTO runs (id, event_id, hook, status, attempt, next_at, created_at,"
                    " updated_at) VALUES ('r1', 'e1', 'h', 'running', 1, 1, 1, 1)")  # fmt: skip
        old.commit()
    journal = SqliteJournal(path)
    try:
        before = journal.run("r1")
        assert before is not None and (before.cpu_s, before.peak_memory_bytes) == (None, None)
        result = RunResult("r1", "e1", "h", "c", 1, "succeeded", 0, "", "", False, 1.0, 0.1,
                           peak_memory_bytes=70 << 20, cpu_s=0.25)  # fmt: skip
        assert journal.finish(result, "succeeded")
        after = journal.run("r1")
        assert after is not None and (after.cpu_s, after.peak_memory_bytes) == (0.25, 70 << 20)
    finally:
        journal.close()
