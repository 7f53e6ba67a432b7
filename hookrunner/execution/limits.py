"""Resource limits applied in the child between fork and exec."""

from __future__ import annotations

import resource
from collections.abc import Callable
from typing import NamedTuple


class Limits(NamedTuple):
    max_processes: int
    max_memory_bytes: int
    max_file_bytes: int

    def preexec(self) -> Callable[[], None]:
        """A ``preexec_fn`` that only calls ``setrlimit`` (safe after fork)."""
        wanted = (
            (resource.RLIMIT_NPROC, self.max_processes),
            (resource.RLIMIT_DATA, self.max_memory_bytes),
            (resource.RLIMIT_FSIZE, self.max_file_bytes or resource.RLIM_INFINITY),
            (resource.RLIMIT_CORE, 0),
        )

        def apply() -> None:
            for which, value in wanted:
                _soft, hard = resource.getrlimit(which)
                capped = value if hard == resource.RLIM_INFINITY else min(value, hard)
                resource.setrlimit(which, (capped, capped))

        return apply
