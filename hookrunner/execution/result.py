"""The result record every run produces, whoever ran it (daemon or dry-run)."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Any, Literal

from hookrunner.execution.executor import Outcome

RunStatus = Literal["succeeded", "failed", "tempfail", "timed_out", "skipped", "interrupted"]
RETRYABLE: frozenset[str] = frozenset({"tempfail", "timed_out", "interrupted"})


@dataclass(frozen=True)
class RunResult:
    run_id: str
    event_id: str
    hook: str
    commit: str
    attempt: int
    status: RunStatus
    exit_code: int | None
    stdout: str
    stderr: str
    truncated: bool
    started_at: float
    duration_s: float
    # Measured by the run's cgroup (DESIGN §5); None where there is none.
    peak_memory_bytes: int | None = None
    cpu_s: float | None = None

    @classmethod
    def from_outcome(
        cls, outcome: Outcome, *, run_id: str, event_id: str, hook: str, commit: str, attempt: int
    ) -> RunResult:
        return cls(
            run_id=run_id,
            event_id=event_id,
            hook=hook,
            commit=commit,
            attempt=attempt,
            status=outcome.status,
            exit_code=outcome.exit_code,
            stdout=outcome.stdout,
            stderr=outcome.stderr,
            truncated=outcome.truncated,
            started_at=outcome.started_at,
            duration_s=outcome.duration_s,
            peak_memory_bytes=outcome.peak_memory_bytes,
            cpu_s=outcome.cpu_s,
        )

    @classmethod
    def skipped(
        cls, *, run_id: str, event_id: str, hook: str, commit: str, attempt: int, why: str = ""
    ) -> RunResult:
        """No hook runs for the event (no hook file, or ``why``): recorded, not an error."""
        return cls(
            run_id,
            event_id,
            hook,
            commit,
            attempt,
            "skipped",
            None,
            "",
            why,
            False,
            time.time(),
            0.0,
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
