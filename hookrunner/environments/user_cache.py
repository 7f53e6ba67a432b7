"""The environments of ``dry-run`` and ``validate``: the daemon's code, the user's cache.

An author's machine keeps them in ``$XDG_CACHE_HOME/hookrunner/environments`` (default
``~/.cache/...``), so the second dry-run of a hook directory starts at once. Builds
print progress to stderr: a cold one can take a while.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from hookrunner.config import Settings
from hookrunner.environments.store import EnvironmentStore


def user_cache_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "hookrunner" / "environments"


def _to_stderr(message: str) -> None:
    print(f"hookrunner: {message}", file=sys.stderr, flush=True)


def user_store(settings: Settings) -> EnvironmentStore:
    return EnvironmentStore(user_cache_root(), settings, progress=_to_stderr)
