"""One symlink rule for the daemon, ``dry-run`` and ``validate`` (DESIGN §3).

A hook file reached through a symlink is refused with an error naming it and never
runs; the other hooks of the same commit keep working.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import GitDaemon, WorkRepo, git
from daemon_harness import RunningDaemon, wait_for_run

from hookrunner.repo import Snapshot, build_index, refused_hook_files

SECRET = "root:$6$not-for-hooks$"
OPEN_HOOK = "hoop-hooks/session-open.runbook.py"
CLOSE_HOOK = "hoop-hooks/session-close.runbook.py"
PRINT_SELF = "print(open(__file__).read())\n"


@pytest.fixture
def outside_secret(tmp_path: Path) -> Path:
    secret = tmp_path / "shadow"
    secret.write_text(SECRET + "\n")
    return secret


def link(repo: WorkRepo, rel: str, target: str | Path) -> str:
    path = repo.work / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists() or path.is_symlink():
        path.unlink()
    os.symlink(target, path)
    git("add", "-A", cwd=repo.work)
    git("commit", "-qm", f"link {rel}", cwd=repo.work)
    return repo.push()


def hookrunner(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hookrunner", *args], capture_output=True, text=True, timeout=60
    )


@pytest.mark.parametrize("target", ["absolute", "inside"])
def test_validate_dry_run_and_index_refuse_a_symlinked_hook_alike(
    work_repo: WorkRepo, outside_secret: Path, target: str
) -> None:
    work_repo.commit({CLOSE_HOOK: PRINT_SELF, "lib/real.py": PRINT_SELF})
    link(work_repo, OPEN_HOOK, outside_secret if target == "absolute" else "../lib/real.py")
    root = work_repo.work

    refused = refused_hook_files(root)
    assert list(refused) == [OPEN_HOOK]
    index = build_index(Snapshot("c", root))
    assert index.session_hooks == {"session-close"}

    validated = hookrunner("validate", str(root))
    assert validated.returncode != 0
    assert f"{OPEN_HOOK}:0: error: refused: is a symlink" in validated.stderr

    dry = hookrunner("dry-run", "session-open", "--repo", str(root), "--json")
    assert dry.returncode != 0
    assert SECRET not in dry.stdout + dry.stderr
    assert OPEN_HOOK in dry.stdout and "symlink" in dry.stdout
    other = hookrunner("dry-run", "session-close", "--repo", str(root))
    assert other.returncode == 0, other.stderr


def test_a_symlinked_hook_directory_or_flow_is_refused(
    work_repo: WorkRepo, outside_secret: Path
) -> None:
    work_repo.commit(
        {
            "elsewhere/session-open.runbook.py": PRINT_SELF,
            "flows/good/impl.py": "",
            "flows/bad/flow.toml": "",
        }
    )
    (work_repo.work / "hoop-hooks" / "session-open.runbook.py").unlink()
    (work_repo.work / "hoop-hooks").rmdir()
    link(work_repo, "hoop-hooks", "elsewhere")
    link(work_repo, "flows/bad/impl.py", outside_secret)
    index = build_index(Snapshot("c", work_repo.work))
    assert index.session_hooks == frozenset() and index.flows == {"good"}
    assert "is under hoop-hooks, a symlink" in (index.refusal(OPEN_HOOK) or "")
    assert "leaves the tree" in (index.refusal("flows/bad") or "")
    assert index.refusal("flows/good") is None


@pytest.fixture
def daemon(tmp_path: Path, git_daemon: GitDaemon) -> Iterator[RunningDaemon]:
    running = RunningDaemon(tmp_path, git_daemon.url("remote.git"))
    yield running
    running.stop()


def test_the_daemon_refuses_the_linked_hook_and_runs_the_others(
    daemon: RunningDaemon, work_repo: WorkRepo, outside_secret: Path
) -> None:
    work_repo.commit({CLOSE_HOOK: PRINT_SELF})
    commit = link(work_repo, OPEN_HOOK, outside_secret)
    daemon.start()
    with daemon.client("admin-token") as admin:
        status = admin.get("/v1/status").json()
        assert status["commit"] == commit
        assert OPEN_HOOK in status["refused_hooks"]
        opened = admin.post("/v1/events/session-open", json={"sid": "s1", "connection_name": "c"})
        closed = admin.post("/v1/events/session-close", json={"sid": "s1", "exit_code": 0})
        refused_run = wait_for_run(admin, opened.json()["run_ids"][0])
        other_run = wait_for_run(admin, closed.json()["run_ids"][0])
    assert refused_run["status"] == "failed" and refused_run["commit"] == commit
    assert OPEN_HOOK in refused_run["stderr"] and SECRET not in refused_run["stdout"]
    assert other_run["status"] == "succeeded" and other_run["commit"] == commit
    assert "hook_refused" in daemon.log_text()
