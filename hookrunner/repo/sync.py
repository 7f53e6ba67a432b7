"""One blocking sync: fetch the branch into a bare clone and publish its commit as a snapshot.

Anything that goes wrong (stale locks, a corrupt clone, a rewritten or deleted branch, a
changed URL) is healed by a fresh clone built beside the old one, which is swapped in only
when it worked. The published snapshot is never touched by a failed sync.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

import structlog

from hookrunner.config import RepoSettings, RepoSource, repo_settings
from hookrunner.logs import redact_url
from hookrunner.repo.gitcli import GitCli, GitError
from hookrunner.repo.snapshots import Snapshot, SnapshotStore
from hookrunner.repo.unpack import UnpackError, too_large, unpack

log = structlog.get_logger("hookrunner.repo")
FALLBACK_BRANCHES = ("main", "master")
REFSPEC = "+refs/heads/*:refs/remotes/origin/*"


class PublishRefused(Exception):
    """A commit's tree was fetched but must not go live (its message says why)."""


class SnapshotRefused(GitError):
    """The commit was fetched but cannot be published (too big, a bad archive); the
    clone is fine, so this is never healed by re-cloning."""


class Syncer:
    def __init__(
        self,
        settings: RepoSource,
        root: Path,
        prepare: Callable[[Path], None] | None = None,
    ) -> None:
        self._settings = settings
        self.prepare = prepare
        self.root = root
        self.clone_dir = root / "clone.git"
        self.store = SnapshotStore(root)
        self.git = GitCli(settings, root / "private")

    @property
    def settings(self) -> RepoSettings:
        return repo_settings(self._settings)

    def sync(self) -> Snapshot:
        """Fetch and publish; heal by re-cloning once before giving up."""
        if not self.settings.url:
            raise GitError("repo.url is not set")
        had_clone = (self.clone_dir / "HEAD").is_file()
        try:
            return self._sync_existing_clone()
        except SnapshotRefused:
            raise
        except GitError as first:
            if not had_clone:  # a first clone has nothing to heal: report its error now
                raise
            log.warning("git_heal", reason=str(first), url=redact_url(self.settings.url))
            self._reclone()
            return self._publish(self._resolve_branch(self.clone_dir))

    def _sync_existing_clone(self) -> Snapshot:
        if not (self.clone_dir / "HEAD").is_file():
            self._reclone()
        else:
            self._remove_stale_locks()
            self._point_origin(self.clone_dir)
            self._fetch(self.clone_dir)
        return self._publish(self._resolve_branch(self.clone_dir))

    def _remove_stale_locks(self) -> None:
        """Only this process touches the clone, and one sync at a time: any lock is stale."""
        for lock in [*self.clone_dir.glob("*.lock"), *self.clone_dir.glob("refs/**/*.lock")]:
            with contextlib.suppress(FileNotFoundError):
                lock.unlink()

    def _point_origin(self, clone: Path) -> None:
        configured = self.git.run("config", "--get", "remote.origin.url", cwd=clone).strip()
        if configured != self.settings.url:
            self.git.run("config", "remote.origin.url", self.settings.url, cwd=clone)

    def _fetch(self, clone: Path) -> None:
        self.git.run("fetch", "--prune", "--no-tags", "--force", "origin", REFSPEC, cwd=clone)

    def _reclone(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        fresh = Path(tempfile.mkdtemp(prefix=".clone-", dir=self.root))
        try:
            self.git.run("init", "--quiet", "--bare", str(fresh))
            self.git.run("remote", "add", "origin", self.settings.url, cwd=fresh)
            self._fetch(fresh)
        except BaseException:
            shutil.rmtree(fresh, ignore_errors=True)
            raise
        retired = self.root / ".clone-retired"
        shutil.rmtree(retired, ignore_errors=True)
        if self.clone_dir.exists():
            self.clone_dir.rename(retired)
        fresh.rename(self.clone_dir)
        shutil.rmtree(retired, ignore_errors=True)

    def _resolve_branch(self, clone: Path) -> str:
        candidates = (self.settings.branch,) if self.settings.branch else FALLBACK_BRANCHES
        for branch in candidates:
            with contextlib.suppress(GitError):
                ref = f"refs/remotes/origin/{branch}^{{commit}}"
                return self.git.run("rev-parse", "--verify", "--quiet", ref, cwd=clone).strip()
        raise GitError(f"branch {' or '.join(candidates)} not found on the remote")

    def _publish(self, commit: str) -> Snapshot:
        current = self.store.current()
        if current is not None and current.commit == commit:
            return current
        return self.store.publish(commit, lambda target: self._fill(commit, target))

    def _fill(self, commit: str, target: Path) -> None:
        """Extract the tree, then let ``prepare`` make it ready or refuse it
        (:class:`PublishRefused`): only a ready tree is renamed into place and published."""
        self._extract(commit, target)
        if self.prepare is not None:
            self.prepare(target)

    def _extract(self, commit: str, target: Path) -> None:
        tree = f"{commit}:{self.settings.subdir}" if self.settings.subdir else commit
        limit = self.settings.max_snapshot_bytes
        try:
            size = self._unpacked_size(tree)
            if size > limit:  # known from the tree alone: nothing is written
                raise too_large(size, limit)
            with tempfile.TemporaryFile(dir=self.root) as archive:
                self.git.run("archive", "--format=tar", tree, cwd=self.clone_dir, output=archive)
                archive.seek(0)
                unpack(archive, target, limit)
        except UnpackError as exc:
            raise SnapshotRefused(f"commit {commit[:12]}: {exc}") from None

    def _unpacked_size(self, tree: str) -> int:
        """The bytes of every blob in ``tree``, from ``git ls-tree -l`` (no checkout)."""
        listing = self.git.run("ls-tree", "-r", "-l", "-z", tree, cwd=self.clone_dir)
        sizes = (entry.split(None, 4)[3] for entry in listing.split("\0") if entry)
        return sum(int(size) for size in sizes if size.isdigit())
