"""Git sync: a bare clone, read-only snapshots, and the hook index with its TTL."""

from hookrunner.repo.gitcli import GitError
from hookrunner.repo.index import (
    SESSION_HOOK_FILES,
    HookIndex,
    build_index,
    is_valid_slug,
    refused_hook_files,
)
from hookrunner.repo.repository import Repository, SyncReport
from hookrunner.repo.snapshots import Snapshot
from hookrunner.repo.sync import PublishRefused

__all__ = [
    "SESSION_HOOK_FILES",
    "GitError",
    "HookIndex",
    "PublishRefused",
    "Repository",
    "Snapshot",
    "SyncReport",
    "build_index",
    "is_valid_slug",
    "refused_hook_files",
]
