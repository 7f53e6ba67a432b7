"""Resource limits a hook starts under.

They are applied by exec'ing the hook through util-linux ``prlimit(1)``, so the daemon
can start hooks with ``vfork``. A ``preexec_fn`` would force a full ``fork`` of the daemon,
which holds the event loop for about 2.5 ms a hook (measured in ``bench``). Where
``prlimit`` is not installed, the same limits are set by a ``preexec_fn`` instead.
"""

from __future__ import annotations

import resource
import shutil
from collections.abc import Callable
from typing import NamedTuple

PRLIMIT = shutil.which("prlimit")
PRLIMIT_FLAGS = {
    resource.RLIMIT_NPROC: "--nproc",
    resource.RLIMIT_DATA: "--data",
    resource.RLIMIT_FSIZE: "--fsize",
    resource.RLIMIT_CORE: "--core",
}


class Launch(NamedTuple):
    """How to start a command under the limits."""

    argv: list[str]
    preexec_fn: Callable[[], None] | None


class Limits(NamedTuple):
    max_processes: int
    max_memory_bytes: int
    max_file_bytes: int

    def capped(self) -> dict[int, int]:
        """Each limit, lowered to the daemon's hard limit (which the hook inherits)."""
        wanted = {
            resource.RLIMIT_NPROC: self.max_processes,
            resource.RLIMIT_DATA: self.max_memory_bytes,
            resource.RLIMIT_FSIZE: self.max_file_bytes or resource.RLIM_INFINITY,
            resource.RLIMIT_CORE: 0,
        }
        capped = {}
        for which, value in wanted.items():
            _soft, hard = resource.getrlimit(which)
            capped[which] = value if hard == resource.RLIM_INFINITY else min(value, hard)
        return capped

    def launch(self, argv: list[str], prlimit: str | None = PRLIMIT) -> Launch:
        """``argv`` wrapped so that it runs with soft and hard limits both set."""
        limits = self.capped()
        if prlimit is not None:
            flags = [f"{PRLIMIT_FLAGS[which]}={_text(v)}:{_text(v)}" for which, v in limits.items()]
            return Launch([prlimit, *flags, "--", *argv], None)

        def apply() -> None:  # only setrlimit: safe between fork and exec
            for which, value in limits.items():
                resource.setrlimit(which, (value, value))

        return Launch(argv, apply)


def _text(value: int) -> str:
    return "unlimited" if value == resource.RLIM_INFINITY else str(value)
