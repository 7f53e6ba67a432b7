"""Which hook files a snapshot holds: looked up once per snapshot, then trusted for the TTL."""

from __future__ import annotations

import re
from pathlib import Path
from typing import NamedTuple

from hookrunner.repo.snapshots import Snapshot

SESSION_HOOK_FILES = {
    "session-open": "hoop-hooks/session-open.runbook.py",
    "session-close": "hoop-hooks/session-close.runbook.py",
}
SLUG_PATTERN = re.compile(r"[a-z0-9][a-z0-9_-]{0,62}")


def is_valid_slug(slug: str) -> bool:
    return SLUG_PATTERN.fullmatch(slug) is not None


class HookIndex(NamedTuple):
    snapshot: Snapshot
    session_hooks: frozenset[str]
    flows: frozenset[str]

    def hook_path(self, kind: str) -> Path | None:
        """The session hook file for ``kind``, or ``None`` when the repo has none."""
        if kind not in self.session_hooks:
            return None
        return self.snapshot.path / SESSION_HOOK_FILES[kind]


def build_index(snapshot: Snapshot) -> HookIndex:
    root = snapshot.path
    session = frozenset(k for k, rel in SESSION_HOOK_FILES.items() if (root / rel).is_file())
    flows_dir = root / "flows"
    flows = frozenset(
        entry.name
        for entry in (flows_dir.iterdir() if flows_dir.is_dir() else ())
        if is_valid_slug(entry.name) and (entry / "impl.py").is_file()
    )
    return HookIndex(snapshot, session, flows)
