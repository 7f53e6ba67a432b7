"""``dry-run``: the daemon's payload and executor code on a local tree, with no journal.

A directory is used as it is, uncommitted edits included, so authors can try a hook
before committing. A URL is cloned into a throw-away state dir through the same sync
code the daemon uses.
"""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Iterator
from pathlib import Path

from hookrunner.config import RepoSettings, Settings
from hookrunner.repo import GitError, HookIndex, Repository, Snapshot, build_index
from hookrunner.repo.gitcli import GitCli


class SourceError(Exception):
    """The ``--repo`` given cannot be used."""


def _working_tree_commit(directory: Path) -> str:
    # Local calls need no credentials, and none must be written into the author's tree.
    git = GitCli(RepoSettings(), directory)
    try:
        head = git.run("rev-parse", "HEAD", cwd=directory).strip()
        dirty = git.run("status", "--porcelain", cwd=directory).strip()
    except GitError:
        return "working-tree"
    return f"{head}-dirty" if dirty else head


@contextlib.contextmanager
def open_source(repo: str, settings: Settings) -> Iterator[HookIndex]:
    """The hook index of a directory (as it is) or of a URL's branch (freshly cloned)."""
    directory = Path(repo)
    if directory.is_dir():
        root = directory / settings.repo.subdir if settings.repo.subdir else directory
        if not root.is_dir():
            raise SourceError(f"{root}: repo.subdir does not exist")
        commit = _working_tree_commit(directory)
        yield build_index(Snapshot(commit, root.resolve()))
        return
    if "://" not in repo and ":" not in repo:
        raise SourceError(f"{repo}: no such directory")
    with tempfile.TemporaryDirectory(prefix="hookrunner-dry-run-") as state:
        repo_settings = settings.repo.model_copy(update={"url": repo})
        repository = Repository(repo_settings, Path(state))
        report = repository.refresh()
        index = repository.last_good()
        if report is None or not report.ok or index is None:
            error = report.error if report else "no answer"
            raise SourceError(f"{repo}: {error}")
        yield index
