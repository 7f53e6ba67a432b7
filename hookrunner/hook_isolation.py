"""What the daemon keeps from its hooks, derived from its settings (DESIGN §5, isolation).

A sandboxed hook gets empty mounts over the state directory, the config, the tokens file,
every secret file the settings name and systemd's credentials directory; the snapshots
and the integration channel's directory are shown again, read-only (a Unix socket on a
read-only mount can still be connected to).
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from hookrunner.config import DEFAULT_CONFIG_PATH, Settings, secret_path
from hookrunner.execution import Isolation
from hookrunner.execution.isolation import setup

PACKAGED_CONFIG_DIR = DEFAULT_CONFIG_PATH.parent


def _secret_files(section: Any) -> Iterator[str]:
    """Every ``*_file`` value and every file named in a ``secrets`` table, at any depth."""
    if isinstance(section, dict):
        for key, value in section.items():
            if isinstance(value, str) and value and key.endswith("_file"):
                yield value
            elif key == "secrets" and isinstance(value, dict):
                yield from (path for path in value.values() if isinstance(path, str) and path)
            else:
                yield from _secret_files(value)


def private_paths(settings: Settings, config_file: str | None) -> list[Path]:
    paths = [settings.state.dir, Path(config_file or DEFAULT_CONFIG_PATH), PACKAGED_CONFIG_DIR]
    paths.append(Path(settings.server.tokens_file))
    paths += [secret_path(name) for name in _secret_files(settings.model_dump())]
    credentials = os.environ.get("CREDENTIALS_DIRECTORY")
    if credentials:
        paths.append(Path(credentials))
    return [path.absolute() for path in paths]


def start_isolation(
    settings: Settings,
    config_file: str | None,
    shown: Sequence[Path],
    running: Isolation | None = None,
) -> Isolation:
    """Probe and set up account, sandbox and cgroups; ``IsolationUnavailable`` if required
    ones are missing. ``shown``: what a sandboxed hook sees again (snapshots, channel);
    the hook environments (their venvs, DESIGN §13) are shown read-only too, all under
    the otherwise hidden state directory. ``running``: the isolation a reload replaces
    (its cgroup tree stays in use)."""
    executor = settings.executor
    hidden = private_paths(settings, config_file)
    environments = settings.state.dir / "environments"
    readable = [path.absolute() for path in [*shown, environments]]
    wanted = (executor.user, executor.sandbox, executor.cgroup, hidden, readable)
    return running.reprobe(*wanted) if running is not None else setup(*wanted)
