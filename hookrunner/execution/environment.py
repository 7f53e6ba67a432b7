"""The hook environment: an allowlist of the daemon's, never the whole of it."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping

DEFAULT_PATH = "/usr/local/bin:/usr/bin:/bin"


def hook_environment(
    passthrough: Iterable[str],
    configured: Mapping[str, str],
    event: Mapping[str, str],
    parent: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """Allowlisted names from ``parent``, then configured values, then the event's own."""
    source = os.environ if parent is None else parent
    env = {name: source[name] for name in passthrough if name in source}
    env.setdefault("PATH", DEFAULT_PATH)
    env.update(configured)
    env.update(event)
    # A hook never writes __pycache__ into its snapshot or an author's working tree.
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env
