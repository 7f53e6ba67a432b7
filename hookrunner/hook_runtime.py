"""What one process's hooks run with: its isolation and its hook environments.

The daemon keeps one in its services; ``dry-run`` and ``validate`` make their own. It is
passed to wherever runs are built, so two daemons, or a daemon and a dry-run, in one
process never run hooks with each other's sandbox, cgroups or environments.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from hookrunner.environments import EnvironmentStore
from hookrunner.execution import Isolation, Outcome, RunSpec, execute


@dataclass
class HookRuntime:
    """``isolation``: the account, sandbox and cgroups probed for this process (by default
    the account switch only, as ``dry-run`` has); ``environments``: where the venvs of
    hook directories come from (``None``: every hook runs with the configured interpreter).
    """

    isolation: Isolation = field(default_factory=Isolation)
    environments: EnvironmentStore | None = None

    def interpreter(self, directory: Path, configured: str) -> str:
        """The Python to run the hooks of ``directory`` (a hook directory) with."""
        if self.environments is None:
            return configured
        return self.environments.interpreter_for(directory)

    async def execute(self, spec: RunSpec) -> Outcome:
        return await execute(spec, self.isolation)
