"""Which hook files a snapshot holds: looked up once per snapshot, then trusted for the TTL."""

from __future__ import annotations

import re
import types
from collections.abc import Mapping
from pathlib import Path
from typing import NamedTuple

from hookrunner.repo.links import link_problem
from hookrunner.repo.snapshots import Snapshot

SESSION_HOOK_FILES = {
    "session-open": "hoop-hooks/session-open.runbook.py",
    "session-close": "hoop-hooks/session-close.runbook.py",
}
# What the daemon reads or runs in a flow directory.
FLOW_FILE_PATTERNS = ("impl.py", "flow.toml", "*.runbook.py")
SLUG_PATTERN = re.compile(r"[a-z0-9][a-z0-9_-]{0,62}")


def is_valid_slug(slug: str) -> bool:
    return SLUG_PATTERN.fullmatch(slug) is not None


class HookIndex(NamedTuple):
    snapshot: Snapshot
    session_hooks: frozenset[str]
    flows: frozenset[str]
    # Hook files the symlink rule refused: path in the tree → the error naming it.
    refused: Mapping[str, str] = types.MappingProxyType({})

    def hook_path(self, kind: str) -> Path | None:
        """The session hook file for ``kind``, or ``None`` when the repo has none."""
        if kind not in self.session_hooks:
            return None
        return self.snapshot.path / SESSION_HOOK_FILES[kind]

    def refusal(self, rel: str) -> str | None:
        """Why the hook file, or something in the directory, ``rel`` was refused, if it was."""
        return _refusal(self.refused, rel)


def _refusal(refused: Mapping[str, str], rel: str) -> str | None:
    parents = [rel, *(str(parent) for parent in Path(rel).parents)]
    return next(
        (error for path, error in refused.items() if path in parents or path.startswith(rel + "/")),
        None,
    )


def hook_files(root: Path) -> list[str]:
    """Every hook file path of the tree the daemon might read or run."""
    found = list(SESSION_HOOK_FILES.values())
    flows = root / "flows"
    if flows.is_symlink():
        return [*found, "flows"]
    for entry in sorted(flows.iterdir()) if flows.is_dir() else ():
        found.append(f"flows/{entry.name}")
        if entry.is_dir() and not entry.is_symlink():
            found += sorted(
                {
                    f"flows/{entry.name}/{p.name}"
                    for pat in FLOW_FILE_PATTERNS
                    for p in entry.glob(pat)
                }
            )
    return found


def refused_hook_files(root: Path) -> dict[str, str]:
    """The hook files of the tree that the symlink rule refuses, each with its error."""
    problems = {rel: link_problem(root, rel) for rel in hook_files(root)}
    return {rel: problem for rel, problem in problems.items() if problem is not None}


def build_index(snapshot: Snapshot) -> HookIndex:
    root = snapshot.path
    refused = refused_hook_files(root)
    session = frozenset(
        kind
        for kind, rel in SESSION_HOOK_FILES.items()
        if rel not in refused and (root / rel).is_file()
    )
    flows_dir = root / "flows"
    flows = frozenset(
        entry.name
        for entry in (flows_dir.iterdir() if flows_dir.is_dir() else ())
        if is_valid_slug(entry.name)
        and _refusal(refused, f"flows/{entry.name}") is None
        and (entry / "impl.py").is_file()
    )
    return HookIndex(snapshot, session, flows, types.MappingProxyType(refused))
