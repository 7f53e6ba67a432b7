"""Git sync against real repositories: local path, file://, and git:// from ``git daemon``."""

from __future__ import annotations

import os
import shutil
import threading
import time
from pathlib import Path

import pytest
from conftest import GitDaemon, WorkRepo, git

from hookrunner.config import RepoSettings
from hookrunner.repo import Repository


def make_repository(url: str, state: Path, **overrides: object) -> Repository:
    settings = RepoSettings(url=url, **overrides)  # type: ignore[arg-type]
    return Repository(settings, state)


def hook_text(repository: Repository) -> str:
    index = repository.index()
    assert index is not None
    path = index.hook_path("session-open")
    assert path is not None
    return path.read_text()


@pytest.mark.parametrize("scheme", ["path", "file"])
def test_clone_from_local_path_and_file_url(
    work_repo: WorkRepo, tmp_path: Path, scheme: str
) -> None:
    url = str(work_repo.bare) if scheme == "path" else f"file://{work_repo.bare}"
    repository = make_repository(url, tmp_path / "state")
    report = repository.refresh()
    assert report is not None and report.ok, report
    assert report.commit == git("rev-parse", "HEAD", cwd=work_repo.work)
    assert "VERSION" not in hook_text(repository) and "1" in hook_text(repository)
    current = tmp_path / "state" / "repo" / "current"
    assert current.is_symlink() and os.readlink(current) == f"snapshots/{report.commit}"


def test_snapshot_is_read_only(work_repo: WorkRepo, tmp_path: Path) -> None:
    repository = make_repository(str(work_repo.bare), tmp_path / "state")
    repository.refresh()
    index = repository.index()
    assert index is not None
    assert not os.stat(index.snapshot.path).st_mode & 0o222
    hook = index.hook_path("session-open")
    assert hook is not None and not os.stat(hook).st_mode & 0o222


def test_branch_falls_back_to_master(tmp_path: Path) -> None:
    repo = WorkRepo(tmp_path / "git", branch="master")
    commit = repo.echo_hook(1)
    repository = make_repository(str(repo.bare), tmp_path / "state")
    report = repository.refresh()
    assert report is not None and report.ok and report.commit == commit


def test_subdir_is_the_root(tmp_path: Path) -> None:
    repo = WorkRepo(tmp_path / "git")
    repo.commit({"ops/runbooks/hoop-hooks/session-open.runbook.py": "print('sub')\n"})
    repository = make_repository(str(repo.bare), tmp_path / "state", subdir="ops/runbooks")
    repository.refresh()
    assert hook_text(repository) == "print('sub')\n"


def test_valid_ttl_means_no_git_at_all(work_repo: WorkRepo, tmp_path: Path) -> None:
    repository = make_repository(str(work_repo.bare), tmp_path / "state", ttl=3600)
    repository.refresh()
    before = repository.git_invocations
    for _ in range(1000):
        assert repository.index() is not None
    assert repository.git_invocations - before == 0


def test_expired_ttl_one_fetch_for_many_concurrent_lookups(
    git_daemon: GitDaemon, work_repo: WorkRepo, tmp_path: Path
) -> None:
    repository = make_repository(
        git_daemon.url("remote.git"), tmp_path / "state", ttl=0.5, refresh_wait=10
    )
    repository.refresh()
    time.sleep(0.6)  # let the TTL lapse; no race: any later moment is just as expired
    syncs_before = repository.git_invocations
    start = threading.Barrier(50)
    results: list[object] = []

    def lookup() -> None:
        start.wait()
        results.append(repository.index())

    threads = [threading.Thread(target=lookup) for _ in range(50)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 50 and all(results)
    calls_per_sync = 3  # config --get, fetch, rev-parse (same commit: nothing to archive)
    assert repository.git_invocations - syncs_before == calls_per_sync


def test_push_publishes_new_snapshot_and_gc_removes_old(
    git_daemon: GitDaemon, work_repo: WorkRepo, tmp_path: Path
) -> None:
    repository = make_repository(git_daemon.url("remote.git"), tmp_path / "state", ttl=3600)
    first = repository.refresh()
    second_commit = work_repo.echo_hook(2)
    second = repository.refresh()
    assert first is not None and second is not None
    assert second.commit == second_commit != first.commit
    assert '"version": 2' in hook_text(repository)
    snapshots = tmp_path / "state" / "repo" / "snapshots"
    assert sorted(p.name for p in snapshots.iterdir()) == [second_commit]


def test_run_stays_pinned_while_newer_snapshot_is_published(
    work_repo: WorkRepo, tmp_path: Path
) -> None:
    repository = make_repository(str(work_repo.bare), tmp_path / "state", ttl=3600)
    repository.refresh()
    with repository.pinned() as index:
        assert index is not None
        old_path = index.snapshot.path
        new_commit = work_repo.echo_hook(2)
        report = repository.refresh()
        assert report is not None and report.commit == new_commit
        assert old_path.is_dir(), "a pinned snapshot must survive a publish"
        assert '"version": 1' in (old_path / "hoop-hooks/session-open.runbook.py").read_text()
    assert not old_path.exists(), "unpinned old snapshot is collected"


def test_old_snapshot_outlives_the_publish_until_lookups_moved_on(
    work_repo: WorkRepo, tmp_path: Path
) -> None:
    # An event looking up the index between a publish and the index switch must still
    # find the snapshot it was handed, so collection waits for the switch.
    repository = make_repository(str(work_repo.bare), tmp_path / "state", ttl=3600)
    repository.refresh()
    old = repository.last_good()
    assert old is not None
    new = repository.store.publish("f" * 40, lambda target: (target / "hoop-hooks").mkdir())
    assert repository.store.current() == new and old.snapshot.path.is_dir()
    work_repo.echo_hook(2)
    repository.refresh()
    assert not old.snapshot.path.exists() and not new.path.exists()


def test_server_down_keeps_last_good_within_refresh_wait(
    git_daemon: GitDaemon, work_repo: WorkRepo, tmp_path: Path
) -> None:
    repository = make_repository(
        git_daemon.url("remote.git"), tmp_path / "state", ttl=0, refresh_wait=2
    )
    first = repository.refresh()
    assert first is not None and first.ok
    git_daemon.stop()
    work_repo.echo_hook(2)
    for _ in range(5):
        started = time.monotonic()
        index = repository.index()
        assert time.monotonic() - started < 2 + 1.0
        assert index is not None and index.snapshot.commit == first.commit
    assert repository.last_sync is not None and not repository.last_sync.ok
    assert '"version": 1' in hook_text(repository)


def test_force_push_to_unrelated_history(work_repo: WorkRepo, tmp_path: Path) -> None:
    repository = make_repository(str(work_repo.bare), tmp_path / "state")
    repository.refresh()
    git("checkout", "--quiet", "--orphan", "rewritten", cwd=work_repo.work)
    git("rm", "-rq", "--cached", ".", cwd=work_repo.work)
    work_repo.write({"hoop-hooks/session-open.runbook.py": "print('rewritten')\n"})
    git("add", "-A", cwd=work_repo.work)
    git("commit", "--quiet", "-m", "unrelated", cwd=work_repo.work)
    git("branch", "-M", "main", cwd=work_repo.work)
    new_commit = work_repo.push(force=True)
    report = repository.refresh()
    assert report is not None and report.ok and report.commit == new_commit
    assert hook_text(repository) == "print('rewritten')\n"


def test_stale_lock_is_removed(work_repo: WorkRepo, tmp_path: Path) -> None:
    repository = make_repository(str(work_repo.bare), tmp_path / "state")
    repository.refresh()
    clone = tmp_path / "state" / "repo" / "clone.git"
    (clone / "index.lock").write_text("")
    (clone / "shallow.lock").write_text("")
    (clone / "refs" / "remotes" / "origin" / "main.lock").write_text("")
    new_commit = work_repo.echo_hook(2)
    report = repository.refresh()
    assert report is not None and report.ok and report.commit == new_commit


def test_corrupt_clone_heals_by_recloning(work_repo: WorkRepo, tmp_path: Path) -> None:
    repository = make_repository(str(work_repo.bare), tmp_path / "state")
    repository.refresh()
    clone = tmp_path / "state" / "repo" / "clone.git"
    for path in (clone / "objects").rglob("*"):
        if path.is_file():
            path.chmod(0o644)
            path.write_bytes(b"garbage")
    (clone / "HEAD").write_text("garbage\n")
    new_commit = work_repo.echo_hook(2)
    report = repository.refresh()
    assert report is not None and report.ok and report.commit == new_commit
    assert '"version": 2' in hook_text(repository)


def test_corrupt_pack_heals_while_last_good_serves(work_repo: WorkRepo, tmp_path: Path) -> None:
    # A file that every later commit shares, so the next snapshot needs the corrupt pack.
    work_repo.commit({"hoop-hooks/runbooklib.py": "SHARED = 1\n" * 200})
    repository = make_repository(str(work_repo.bare), tmp_path / "state")
    repository.refresh()
    served = hook_text(repository)
    clone = tmp_path / "state" / "repo" / "clone.git"
    git("repack", "-a", "-d", "-q", cwd=clone)
    packs = list((clone / "objects" / "pack").glob("*.pack"))
    assert packs and not list((clone / "objects").glob("??/*"))  # every object is packed
    for pack in packs:
        pack.chmod(0o644)
        data = bytearray(pack.read_bytes())
        for offset in range(12, len(data) - 20):  # keep the header and trailer, flip the rest
            data[offset] ^= 0xFF
        pack.write_bytes(data)
    assert hook_text(repository) == served  # served from the snapshot, no git needed
    new_commit = work_repo.echo_hook(2)
    report = repository.refresh()
    assert report is not None and report.ok and report.commit == new_commit
    assert '"version": 2' in hook_text(repository)
    index = repository.index()
    assert index is not None
    shared = index.snapshot.path / "hoop-hooks" / "runbooklib.py"
    assert shared.read_text() == "SHARED = 1\n" * 200
    git("fsck", "--full", "--no-progress", cwd=clone)  # the healed clone is sound


def test_deleted_branch_keeps_last_good_then_recovers(work_repo: WorkRepo, tmp_path: Path) -> None:
    repository = make_repository(str(work_repo.bare), tmp_path / "state")
    first = repository.refresh()
    assert first is not None
    git("update-ref", "-d", "refs/heads/main", cwd=work_repo.bare)
    failed = repository.refresh()
    assert failed is not None and not failed.ok and "not found" in (failed.error or "")
    assert hook_text(repository)  # last good still served
    recreated = work_repo.echo_hook(3)
    report = repository.refresh()
    assert report is not None and report.ok and report.commit == recreated


def test_restart_restores_last_good_without_git(work_repo: WorkRepo, tmp_path: Path) -> None:
    make_repository(str(work_repo.bare), tmp_path / "state").refresh()
    shutil.rmtree(work_repo.bare)  # the remote is gone
    restarted = make_repository(str(work_repo.bare), tmp_path / "state")
    index = restarted.last_good()
    assert index is not None and index.hook_path("session-open") is not None
    assert restarted.git_invocations == 0
