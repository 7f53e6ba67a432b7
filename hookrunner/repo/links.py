"""The one symlink rule, shared by the daemon, ``dry-run`` and ``validate`` (DESIGN §3).

A hook file reached through a symlink (the file itself, or a directory on its way) is
refused with an error naming the file; it never runs. Other hooks of the same commit
are not affected: the rule refuses files, never a whole commit.
"""

from __future__ import annotations

from pathlib import Path


def link_problem(root: Path, rel: str) -> str | None:
    """Why the hook file ``rel`` under ``root`` is refused, or ``None`` if it is not."""
    path = root
    for part in Path(rel).parts:
        path = path / part
        if path.is_symlink():
            where = "leaves the tree" if _leaves(root, path) else "points inside the tree"
            link = path.relative_to(root).as_posix()
            what = "is a symlink" if link == rel else f"is under {link}, a symlink"
            return f"{rel}: refused: {what} that {where}; hook files must be regular files"
        if not path.exists():
            return None
    return None


def _leaves(root: Path, link: Path) -> bool:
    try:
        return not link.resolve().is_relative_to(root.resolve())
    except (OSError, RuntimeError):  # a loop
        return True
