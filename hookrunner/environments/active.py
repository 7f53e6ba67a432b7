"""The one store a process runs hooks from: the daemon's, or ``dry-run``'s user cache.

The runners ask :func:`interpreter_for` for each hook directory, so they need not carry
the store through every call; with no store active, hooks run with the configured
interpreter, as before environments existed.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import structlog

from hookrunner.environments.errors import EnvironmentBuildError
from hookrunner.environments.store import EnvironmentStore

log = structlog.get_logger("hookrunner.environments")
_active: list[EnvironmentStore] = []


def activate_store(store: EnvironmentStore) -> None:
    """Run this process's hooks from ``store`` from now on (the daemon, for its life)."""
    _active.append(store)


@contextlib.contextmanager
def active_store(store: EnvironmentStore) -> Iterator[EnvironmentStore]:
    """Run this process's hooks from ``store`` while the block runs."""
    activate_store(store)
    try:
        yield store
    finally:
        _active.remove(store)


def interpreter_for(directory: Path, configured: str) -> str:
    """The Python to run the hooks of ``directory`` (a hook directory of a snapshot) with.

    A published snapshot's environments are ready (it was not published otherwise); if
    one has gone since, the path still names it and the run fails to start, closed
    (:meth:`EnvironmentStore.python_for`).
    """
    if not _active:
        return configured
    try:
        return _active[-1].python_for(directory)
    except EnvironmentBuildError as exc:
        log.error("environment_unusable", directory=str(directory), error=str(exc))
        return str(_active[-1].root / "unusable" / "bin" / "python")
