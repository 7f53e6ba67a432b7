"""Misbehaving hooks and a full disk, against a real daemon: contained, recorded, recovered."""

from __future__ import annotations

import contextlib
import json
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from conftest import WorkRepo
from daemon_harness import RunningDaemon, wait_for_run

# Each hook marks what it starts with this tag, so the test can look for leftovers.
TAG = "hookrunner-hardening-leftover"
HOOKS = {
    "memory": "x = bytearray(512 * 1024 * 1024)\nprint('allocated', len(x))\n",
    "output": (
        "import os\nchunk = b'y' * (1 << 20)\nfor _ in range(1024):\n    os.write(1, chunk)\n"
    ),
    "daemonize": (
        "import os, sys, time\n"
        "if os.fork() == 0:\n"
        "    os.setsid()\n"
        "    if os.fork() == 0:\n"
        f"        os.execlp('sleep', 'sleep', '300', '{TAG}')\n"
        "    os._exit(0)\n"
        "time.sleep(0.2)\nprint('parent done')\n"
    ),
    "forkbomb": (
        "import os, time\n"
        "while True:\n"
        "    try:\n"
        "        if os.fork() == 0:\n"
        f"            os.execlp('sleep', 'sleep', '300', '{TAG}')\n"
        "    except OSError:\n"
        "        print('fork refused')\n"
        "        break\n"
    ),
}
HOOKS["whoami"] = """
import json, os
state = os.environ["HOOKRUNNER_TEST_STATE"]

def attempt(action):
    try:
        return action() if action.__name__ == "listing" else (action() and "allowed")
    except OSError:
        return "refused"

def listing():
    return sorted(os.listdir(state))

print(json.dumps({
    "uid": os.getuid(),
    "journal": attempt(lambda: open(os.path.join(state, "hookrunner.db"), "rb").read(1)),
    "snapshot_write": attempt(lambda: open("written-by-hook", "w")),
    "listing": attempt(listing),
}))
"""
SELECTOR = """\
import json, os, runpy
name = json.loads(os.environ["HOOP_RUNBOOK_HOOK_PAYLOAD"])["event_session_open"]["connection_name"]
runpy.run_path(os.path.join(os.path.dirname(__file__), name + ".py"))
"""


def leftovers() -> list[str]:
    found = []
    for entry in Path("/proc").iterdir():
        with contextlib.suppress(OSError):
            if entry.name.isdigit() and TAG.encode() in (entry / "cmdline").read_bytes():
                found.append(entry.name)
    return found


@pytest.fixture
def hostile_daemon(tmp_path: Path, work_repo: WorkRepo) -> Iterator[RunningDaemon]:
    work_repo.commit(
        {"hoop-hooks/session-open.runbook.py": SELECTOR}
        | {f"hoop-hooks/{name}.py": source for name, source in HOOKS.items()}
    )
    executor = {
        "interpreter": sys.executable,
        "timeout": 20,
        "max_memory_bytes": 256 << 20,
        "max_processes": 64,
        "max_file_bytes": 1 << 20,
    }
    daemon = RunningDaemon(tmp_path, str(work_repo.bare), executor=executor)
    daemon.start()
    yield daemon
    daemon.stop()
    for pid in leftovers():  # never leave a mess behind, even when the test failed
        with contextlib.suppress(ProcessLookupError):
            os.kill(int(pid), 9)


def run_hook(daemon: RunningDaemon, name: str) -> dict[str, object]:
    with daemon.client("events-token") as events, daemon.client("read-token") as reader:
        answer = events.post("/v1/events/session-open", json={"sid": name, "connection_name": name})
        assert answer.status_code == 202
        run = wait_for_run(reader, answer.json()["run_ids"][0], timeout=90)
        assert reader.get("/healthz").status_code == 200
    return run


def test_memory_hog_is_stopped_by_the_data_limit(hostile_daemon: RunningDaemon) -> None:
    run = run_hook(hostile_daemon, "memory")
    assert run["status"] == "failed" and "MemoryError" in str(run["stderr"])


def test_a_gigabyte_of_output_is_kept_as_head_and_tail(hostile_daemon: RunningDaemon) -> None:
    run = run_hook(hostile_daemon, "output")
    assert run["status"] == "succeeded" and run["truncated"] is True
    assert len(str(run["stdout"])) < 70_000


def test_daemonized_grandchild_is_killed(hostile_daemon: RunningDaemon) -> None:
    run = run_hook(hostile_daemon, "daemonize")
    assert run["status"] == "succeeded" and "parent done" in str(run["stdout"])
    assert leftovers() == []


HOOK_ACCOUNT = "nobody"


def interpreter_for_hook_account() -> str | None:
    """A system ``python3`` that the unprivileged hook account can run, if there is one."""
    for candidate in ("/usr/bin/python3", "/usr/local/bin/python3"):
        with contextlib.suppress(OSError, KeyError):
            probe = subprocess.run([candidate, "-c", "pass"], user=HOOK_ACCOUNT,
                                   capture_output=True, check=False)  # fmt: skip
            if probe.returncode == 0:
                return candidate
    return None


@pytest.fixture
def unprivileged_daemon(work_repo: WorkRepo) -> Iterator[RunningDaemon]:
    """As root, a daemon whose hooks run as ``nobody`` (``executor.user``)."""
    if os.geteuid() != 0:
        pytest.skip("executor.user needs root to switch accounts")
    interpreter = interpreter_for_hook_account()
    if interpreter is None:
        pytest.skip(f"no python3 that {HOOK_ACCOUNT!r} can run")
    work_repo.commit(
        {"hoop-hooks/session-open.runbook.py": SELECTOR}
        | {f"hoop-hooks/{name}.py": source for name, source in HOOKS.items()}
    )
    # pytest's own tmp dirs are private to root; the hook account must pass through these.
    base = Path(tempfile.mkdtemp(prefix="hookrunner-user-"))
    base.chmod(0o711)
    executor = {"interpreter": interpreter, "user": HOOK_ACCOUNT, "timeout": 20,
                "max_processes": 64, "max_memory_bytes": 256 << 20,
                "env": {"HOOKRUNNER_TEST_STATE": str(base / "daemon" / "state")}}  # fmt: skip
    daemon = RunningDaemon(base, str(work_repo.bare), executor=executor)
    daemon.start()
    yield daemon
    daemon.stop()
    for pid in leftovers():
        with contextlib.suppress(ProcessLookupError):
            os.kill(int(pid), 9)
    shutil.rmtree(base)


def test_fork_bomb_is_stopped_by_the_process_limit(request: pytest.FixtureRequest) -> None:
    # RLIMIT_NPROC does not bind root, so as root the bomb runs as the hook account.
    fixture = "unprivileged_daemon" if os.geteuid() == 0 else "hostile_daemon"
    daemon: RunningDaemon = request.getfixturevalue(fixture)
    run = run_hook(daemon, "forkbomb")
    assert "fork refused" in str(run["stdout"])
    assert leftovers() == []


def test_hooks_run_as_executor_user_and_reach_nothing_private(
    unprivileged_daemon: RunningDaemon,
) -> None:
    run = run_hook(unprivileged_daemon, "whoami")
    assert run["status"] == "succeeded", run["stderr"]
    seen = json.loads(str(run["stdout"]))
    assert seen["uid"] == pwd.getpwnam(HOOK_ACCOUNT).pw_uid
    assert seen == {**seen, "journal": "refused", "snapshot_write": "refused"}
    # Refused by the directory's mode, or an empty mount in the sandbox (with only the
    # snapshots mounted back): the journal and the clone do not show.
    assert seen["listing"] == "refused" or set(seen["listing"]) <= {"repo"}


def open_session(client: httpx.Client, sid: str) -> httpx.Response:
    return client.post("/v1/events/session-open", json={"sid": sid, "connection_name": "c"})


def _mount_tmpfs(target: Path, size: str) -> bool:
    target.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(target)],
        capture_output=True, check=False,
    )  # fmt: skip
    return mounted.returncode == 0


def test_full_disk_refuses_intake_loses_nothing_and_recovers(
    tmp_path: Path, work_repo: WorkRepo
) -> None:
    small = tmp_path / "small"
    if os.geteuid() != 0 or not _mount_tmpfs(small, "8m"):
        pytest.skip("cannot mount a small tmpfs here (needs root and mount rights)")
    daemon = RunningDaemon(tmp_path, str(work_repo.bare), state={"dir": str(small / "state")})
    try:
        daemon.start()
        with daemon.client("events-token") as events, daemon.client("read-token") as reader:
            before = [open_session(events, f"b{n}") for n in range(5)]
            accepted = [answer.json()["run_ids"][0] for answer in before]
            filler = small / "filler"
            with contextlib.suppress(OSError), filler.open("wb", buffering=0) as handle:
                while True:  # until the disk is full
                    handle.write(b"\0" * (64 << 10))
            statuses = []
            for n in range(200):
                answer = open_session(events, f"f{n}")
                statuses.append(answer.status_code)
                if answer.status_code == 503:
                    assert answer.headers["content-type"] == "application/problem+json"
                    break
            assert statuses[-1] == 503 and set(statuses) <= {202, 503}
            assert reader.get("/healthz").status_code == 200
            filler.unlink()
            after = open_session(events, "a")
            assert after.status_code == 202
            for run_id in [*accepted, after.json()["run_ids"][0]]:
                assert wait_for_run(reader, run_id)["status"] == "succeeded"
    finally:
        daemon.stop()
        subprocess.run(["umount", "-l", str(small)], check=False)
