"""Lint a runbooks repository by parsing it, never by running user code."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import NamedTuple

from hookrunner.repo import SESSION_HOOK_FILES, is_valid_slug


class Problem(NamedTuple):
    path: str
    line: int
    message: str
    severity: str = "error"

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.severity}: {self.message}"


def parse_python(path: Path, shown: str) -> tuple[ast.Module | None, list[Problem]]:
    """Parse one hook file; a syntax or encoding error becomes a problem."""
    try:
        return ast.parse(path.read_bytes(), filename=shown), []
    except SyntaxError as exc:
        return None, [Problem(shown, exc.lineno or 0, f"syntax error: {exc.msg}")]
    except (OSError, ValueError) as exc:
        return None, [Problem(shown, 0, f"cannot read: {exc}")]


def validate_session_hooks(root: Path) -> list[Problem]:
    problems: list[Problem] = []
    present = [rel for rel in SESSION_HOOK_FILES.values() if (root / rel).is_file()]
    if not present:
        problems.append(Problem("hoop-hooks/", 0, "no session hooks found", "warning"))
    for rel in present:
        problems += parse_python(root / rel, rel)[1]
    hooks_dir = root / "hoop-hooks"
    for path in sorted(hooks_dir.glob("*.runbook.py")) if hooks_dir.is_dir() else []:
        rel = f"hoop-hooks/{path.name}"
        if rel not in SESSION_HOOK_FILES.values():
            problems.append(Problem(rel, 0, "not a known session hook name", "warning"))
    return problems


def validate_flow_slugs(root: Path) -> list[Problem]:
    flows = root / "flows"
    if not flows.is_dir():
        return []
    return [
        Problem(f"flows/{entry.name}", 0, "slug must match [a-z0-9][a-z0-9_-]{0,62}")
        for entry in sorted(flows.iterdir())
        if entry.is_dir() and not is_valid_slug(entry.name)
    ]


def validate_repository(root: Path) -> list[Problem]:
    if not root.is_dir():
        return [Problem(str(root), 0, "not a directory")]
    return validate_session_hooks(root) + validate_flow_slugs(root)
