"""A sync that cannot wedge, snapshots bounded in size, and the host's own Python."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import pytest
from conftest import GitDaemon, WorkRepo, git
from daemon_harness import RunningDaemon, wait_for_run

from hookrunner import metrics
from hookrunner.config import RepoSettings
from hookrunner.repo import Repository
from hookrunner.repo.unpack import SnapshotTooLarge, UnpackError, unpack

# What Debian 12's Python 3.11.2 raised from ``tarfile.extractall(filter=...)``.
OLD_PYTHON_ERROR = "extractall() got an unexpected keyword argument 'filter'"


def sync_count(result: str) -> float:
    (metric,) = metrics.GIT_SYNCS.collect()
    return sum(
        sample.value
        for sample in metric.samples
        if sample.name == "hookrunner_git_sync_total" and sample.labels["result"] == result
    )


def wait_until(condition: object, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.05)


@pytest.fixture
def repository(tmp_path: Path, work_repo: WorkRepo) -> Repository:
    return Repository(RepoSettings(url=str(work_repo.bare), ttl=3600), tmp_path / "state")


def test_an_exception_in_a_sync_ends_the_attempt_and_the_next_recovers(
    repository: Repository, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_extract = repository.syncer._extract
    calls = []

    def extract_like_old_python(commit: str, target: Path) -> None:
        calls.append(commit)
        if len(calls) == 1:
            raise TypeError(OLD_PYTHON_ERROR)
        real_extract(commit, target)

    monkeypatch.setattr(repository.syncer, "_extract", extract_like_old_python)
    before = sync_count("internal_error")
    report = repository.refresh(wait=30)
    assert report is not None, "the refresh never finished: the sync is wedged"
    assert not report.ok and report.result == "internal_error"
    assert "unexpected keyword argument" in (report.error or "")
    assert sync_count("internal_error") == before + 1
    # Nobody asks again: the backoff retry alone brings the snapshot.
    wait_until(lambda: repository.last_good() is not None)
    assert repository.last_sync is not None and repository.last_sync.ok
    assert len(calls) == 2
    assert repository.refresh(wait=30) is not None  # and the refresh machinery still works


def test_the_real_daemon_recovers_from_a_sync_that_raised(
    tmp_path: Path, git_daemon: GitDaemon
) -> None:
    prelude = f"""
from hookrunner.repo import sync
_real = sync.Syncer._extract
_calls = []
def _extract(self, commit, target):
    _calls.append(commit)
    if len(_calls) == 1:
        raise TypeError({OLD_PYTHON_ERROR!r})
    return _real(self, commit, target)
sync.Syncer._extract = _extract
"""
    daemon = RunningDaemon(tmp_path, git_daemon.url("remote.git"))
    try:
        daemon.start(timeout=60, prelude=prelude)
        with daemon.client("admin-token") as admin:
            assert admin.get("/readyz").status_code == 200
            started = time.monotonic()
            assert admin.post("/v1/sync").json()["ok"] is True
            assert time.monotonic() - started < 30
            event = {"sid": "after", "connection_name": "c"}
            answer = admin.post("/v1/events/session-open", json=event)
            assert wait_for_run(admin, answer.json()["run_ids"][0])["status"] == "succeeded"
            metrics = admin.get("/metrics").text
        assert 'hookrunner_git_sync_total{result="internal_error"} 1.0' in metrics
        assert "git_sync_internal_error" in daemon.log_text()
    finally:
        daemon.stop()


def test_only_a_sync_that_brings_a_new_commit_is_logged_at_info(
    tmp_path: Path, work_repo: WorkRepo
) -> None:
    daemon = RunningDaemon(tmp_path, str(work_repo.bare))
    try:
        daemon.start()
        with daemon.client("admin-token") as admin:
            for _ in range(3):
                assert admin.post("/v1/sync").json()["ok"] is True
            changed = work_repo.echo_hook(2)
            assert admin.post("/v1/sync").json()["commit"] == changed
            assert admin.post("/v1/sync").json()["ok"] is True
    finally:
        daemon.stop()
    lines = [json.loads(line) for line in daemon.log_text().splitlines() if line.startswith("{")]
    syncs = [line for line in lines if line.get("event") == "git_sync"]
    assert [line["commit"] for line in syncs][-1] == changed
    assert len(syncs) == 2, syncs  # the first clone and the new commit; not the five others


def test_a_sync_that_recovers_from_failures_is_logged_at_info(
    tmp_path: Path, git_daemon: GitDaemon
) -> None:
    daemon = RunningDaemon(tmp_path, git_daemon.url("remote.git"))
    try:
        daemon.start()
        with daemon.client("admin-token") as admin:
            git_daemon.stop()
            failed = admin.post("/v1/sync")
            git_daemon.start()
            wait_until(lambda: admin.get("/v1/status").json()["last_sync"]["ok"], timeout=60)
    finally:
        daemon.stop()
    lines = [json.loads(line) for line in daemon.log_text().splitlines() if line.startswith("{")]
    syncs = [line["result"] for line in lines if line.get("event") == "git_sync"]
    assert syncs[:2] == ["ok", "error"] and syncs[-1] == "ok", (failed.text, syncs)


def test_a_commit_over_max_snapshot_bytes_is_refused_and_the_last_good_serves(
    tmp_path: Path, work_repo: WorkRepo
) -> None:
    settings = RepoSettings(url=str(work_repo.bare), ttl=0, max_snapshot_bytes=256 << 10)
    repository = Repository(settings, tmp_path / "state")
    good = repository.refresh(wait=30)
    assert good is not None and good.ok
    work_repo.commit({"data/blob.bin": "x" * (300 << 10)}, "too big")
    invocations = repository.git_invocations
    before = sync_count("refused")
    refused = repository.refresh(wait=30)
    assert refused is not None and not refused.ok and refused.result == "refused"
    assert "max_snapshot_bytes" in (refused.error or "")
    assert sync_count("refused") == before + 1
    assert repository.git_invocations - invocations <= 5, "a refused commit is not re-cloned"
    index = repository.last_good()
    assert index is not None and index.snapshot.commit == good.commit
    snapshots = tmp_path / "state" / "repo" / "snapshots"
    assert [entry.name for entry in snapshots.iterdir()] == [good.commit]


def tar_with(members: list[tuple[str, bytes]]) -> io.BytesIO:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    buffer.seek(0)
    return buffer


def test_unpack_stops_at_the_bound_even_when_the_tree_was_not_measured(tmp_path: Path) -> None:
    archive = tar_with([(f"f{n}", b"x" * 4000) for n in range(10)])
    with pytest.raises(SnapshotTooLarge, match="max_snapshot_bytes"):
        unpack(archive, tmp_path, 10_000)
    assert sum(p.stat().st_size for p in tmp_path.iterdir()) <= 10_000


@pytest.mark.parametrize("name", ["/etc/cron.d/x", "../outside", "a/../../outside"])
def test_unpack_refuses_names_outside_the_tree(tmp_path: Path, name: str) -> None:
    target = tmp_path / "target"
    target.mkdir()
    with pytest.raises(UnpackError):
        unpack(tar_with([(name, b"x")]), target, 1 << 20)
    assert not (tmp_path / "outside").exists()


def test_unpack_never_writes_through_a_symlink(tmp_path: Path) -> None:
    target, outside = tmp_path / "target", tmp_path / "outside"
    target.mkdir()
    outside.mkdir()
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        link = tarfile.TarInfo("lib")
        link.type, link.linkname = tarfile.SYMTYPE, str(outside)
        tar.addfile(link)
        info = tarfile.TarInfo("lib/planted.py")
        info.size = 1
        tar.addfile(info, io.BytesIO(b"x"))
    buffer.seek(0)
    with pytest.raises(UnpackError, match="symlink"):
        unpack(buffer, target, 1 << 20)
    assert list(outside.iterdir()) == []


HOST_PYTHON = Path("/usr/bin/python3")
UNPACK_SCRIPT = """
import importlib.util, sys
from pathlib import Path
spec = importlib.util.spec_from_file_location("unpack", sys.argv[1])
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
with open(sys.argv[2], "rb") as archive:
    module.unpack(archive, Path(sys.argv[3]), 1 << 20)
print(sys.version.split()[0])
"""


@pytest.mark.skipif(not HOST_PYTHON.exists(), reason="this host has no /usr/bin/python3")
def test_snapshot_extraction_runs_on_the_hosts_own_python(
    tmp_path: Path, work_repo: WorkRepo
) -> None:
    """The distribution's Python (Debian 12: 3.11.2, without tarfile filters) unpacks a
    real ``git archive`` with the daemon's own code."""
    (work_repo.work / "hoop-hooks" / "run.sh").write_text("#!/bin/sh\n")
    (work_repo.work / "hoop-hooks" / "run.sh").chmod(0o755)
    os.symlink("session-open.runbook.py", work_repo.work / "hoop-hooks" / "alias.py")
    git("add", "-A", cwd=work_repo.work)
    git("commit", "-qm", "more", cwd=work_repo.work)
    archive = tmp_path / "snapshot.tar"
    with archive.open("wb") as out:
        command = ["git", "archive", "--format=tar", "HEAD"]
        subprocess.run(command, cwd=work_repo.work, stdout=out, check=True)
    target = tmp_path / "target"
    target.mkdir()
    module = Path(__file__).parent.parent / "hookrunner" / "repo" / "unpack.py"
    done = subprocess.run(
        [str(HOST_PYTHON), "-I", "-c", UNPACK_SCRIPT, str(module), str(archive), str(target)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    print(f"unpacked with {HOST_PYTHON} {done.stdout.strip()}", file=sys.stderr)
    hook = "hoop-hooks/session-open.runbook.py"
    assert (target / hook).read_text() == (work_repo.work / hook).read_text()
    assert os.access(target / "hoop-hooks" / "run.sh", os.X_OK)
    assert os.readlink(target / "hoop-hooks" / "alias.py") == "session-open.runbook.py"


def test_unpacked_files_keep_git_modes_under_the_daemons_umask(tmp_path: Path) -> None:
    """The daemon runs with umask 077; hooks under executor.user must still read files."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name, mode in (("plain.py", 0o644), ("tool.sh", 0o755)):
            info = tarfile.TarInfo(name)
            info.size, info.mode = 1, mode
            tar.addfile(info, io.BytesIO(b"x"))
    buffer.seek(0)
    previous = os.umask(0o077)
    try:
        unpack(buffer, tmp_path, 1 << 20)
    finally:
        os.umask(previous)
    assert (tmp_path / "plain.py").stat().st_mode & 0o777 == 0o644
    assert (tmp_path / "tool.sh").stat().st_mode & 0o777 == 0o755
