"""Which hook directories of a tree declare packages, and whether their files are usable.

A ``requirements.txt`` may hold requirement lines, comments and ``--hash`` options. Any
other option line (``-r``, ``-c``, ``-e``, ``--index-url``, ...) is refused: the index comes
from ``[environments]``, and an environment is keyed by the file's content alone, so it
must not depend on other files or change where packages come from.
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

from hookrunner.environments.errors import EnvironmentBuildError
from hookrunner.repo import is_valid_slug

REQUIREMENTS_FILE = "requirements.txt"
SESSION_HOOKS_DIR = "hoop-hooks"
FLOWS_DIR = "flows"
MAX_REQUIREMENTS_BYTES = 1 << 20


class Requirements(NamedTuple):
    """One hook directory's ``requirements.txt``: where it is shown, and its bytes."""

    shown: str  # e.g. "flows/db-access/requirements.txt"
    content: bytes
    hashed: bool  # pip's rule: one ``--hash`` makes every requirement need one


def _logical_lines(text: str) -> list[str]:
    joined = text.replace("\\\r\n", " ").replace("\\\n", " ")
    return [line.split(" #", 1)[0].strip() for line in joined.splitlines()]


def check(shown: str, content: bytes) -> Requirements:
    """The file as :class:`Requirements`, or :class:`EnvironmentBuildError` naming the line."""
    if len(content) > MAX_REQUIREMENTS_BYTES:
        raise EnvironmentBuildError(shown, f"larger than {MAX_REQUIREMENTS_BYTES} bytes")
    try:
        text = content.decode("utf-8")
    except UnicodeDecodeError:
        raise EnvironmentBuildError(shown, "not UTF-8 text") from None
    lines = _logical_lines(text)
    for number, line in enumerate(lines, start=1):
        if line.startswith("-"):
            option = line.split()[0].split("=", 1)[0]
            raise EnvironmentBuildError(
                shown,
                f"option {option} is not allowed here"
                " (the index comes from [environments]; list requirements only)",
                number,
            )
    hashed = any(" --hash" in f" {line}" for line in lines)
    return Requirements(shown, content, hashed)


def read_requirements(directory: Path, shown_dir: str) -> Requirements | None:
    """The checked requirements of one hook directory, ``None`` when it declares none.

    A ``requirements.txt`` that is a symlink is refused, like a hook file that is one.
    """
    path = directory / REQUIREMENTS_FILE
    shown = f"{shown_dir}/{REQUIREMENTS_FILE}"
    if path.is_symlink():
        raise EnvironmentBuildError(shown, "is a symlink; commit the file itself")
    if not path.is_file():
        return None
    try:
        content = path.read_bytes()
    except OSError as exc:
        raise EnvironmentBuildError(shown, f"cannot read: {exc.strerror}") from None
    return check(shown, content)


def hook_directories(tree: Path) -> list[tuple[Path, str]]:
    """Every directory whose hooks share one environment: ``hoop-hooks`` and each flow
    (a directory whose name is no valid slug is no flow, and gets none)."""
    found = [(tree / SESSION_HOOKS_DIR, SESSION_HOOKS_DIR)]
    flows = tree / FLOWS_DIR
    if flows.is_dir() and not flows.is_symlink():
        found += [
            (entry, f"{FLOWS_DIR}/{entry.name}")
            for entry in sorted(flows.iterdir())
            if entry.is_dir() and not entry.is_symlink() and is_valid_slug(entry.name)
        ]
    return found


def tree_requirements(tree: Path) -> list[Requirements]:
    """Every requirements file of ``tree``; the first unusable one raises."""
    found = []
    for directory, shown in hook_directories(tree):
        requirements = read_requirements(directory, shown)
        if requirements is not None:
            found.append(requirements)
    return found
