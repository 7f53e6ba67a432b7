"""Plain records the journal hands out; no database types leak to callers."""

from __future__ import annotations

import json
from typing import Any, NamedTuple

# Lifecycle of a run in the journal. ``outcome`` holds the last attempt's executor status.
RUN_STATES = ("queued", "running", "succeeded", "failed", "skipped", "dead")
FINAL_STATES = frozenset({"succeeded", "failed", "skipped", "dead"})


class JournalError(Exception):
    """The journal cannot take writes right now (disk full, I/O error)."""


class Accepted(NamedTuple):
    event_id: str
    run_ids: list[str]
    duplicate: bool

    def to_json(self) -> str:
        return json.dumps({"event_id": self.event_id, "run_ids": self.run_ids})

    @classmethod
    def from_json(cls, text: str) -> Accepted:
        data = json.loads(text)
        return cls(data["event_id"], data["run_ids"], duplicate=True)


class EventRecord(NamedTuple):
    event_id: str
    kind: str
    body: dict[str, Any]
    created_at: float


class RunRecord(NamedTuple):
    run_id: str
    event_id: str
    hook: str
    status: str
    outcome: str | None
    attempt: int
    next_attempt_at: float
    commit: str | None
    exit_code: int | None
    stdout: str
    stderr: str
    truncated: bool
    started_at: float | None
    duration_s: float | None
    created_at: float

    @property
    def final(self) -> bool:
        return self.status in FINAL_STATES

    def to_dict(self) -> dict[str, Any]:
        return self._asdict()
