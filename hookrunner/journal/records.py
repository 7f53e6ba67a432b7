"""Plain records the journal hands out; no database types leak to callers."""

from __future__ import annotations

import json
import math
import uuid
from typing import Any, Literal, NamedTuple

# Lifecycle of a run in the journal. ``outcome`` holds the last attempt's executor status.
# ``replayed``: a dead run whose replay (or a replay of that) has since succeeded.
RUN_STATES = ("queued", "running", "succeeded", "failed", "skipped", "dead", "replayed")
FINAL_STATES = frozenset({"succeeded", "failed", "skipped", "dead", "replayed"})


class JournalError(Exception):
    """The journal cannot take writes right now (disk full, I/O error, database down)."""


class SchemaTooNew(JournalError):
    """The journal was migrated by a newer hookrunner than this one."""


def new_id() -> str:
    """A fresh id for an event, a run or a request; every backend mints them the same way."""
    return str(uuid.uuid4())


def finished_state(outcome: str) -> str:
    """The lifecycle state of a run that ran once and is not retried (a flow step's hook)."""
    return "succeeded" if outcome == "succeeded" else "failed"


# Each source of deliveries keeps its own ids (DESIGN §6): an id from one never
# suppresses a delivery from another.
DeliverySource = Literal["session", "hoop_webhook", "git_webhook", "flow_request", "slack"]


class Delivery(NamedTuple):
    """A delivery id within the namespace of the source that sent it."""

    source: DeliverySource
    key: str


class Accepted(NamedTuple):
    event_id: str
    run_ids: list[str]
    duplicate: bool


class EventRecord(NamedTuple):
    event_id: str
    kind: str
    body: dict[str, Any]
    created_at: float


class RunRecord(NamedTuple):
    """A run: ``state`` is its lifecycle in the journal, ``outcome`` its last attempt's
    executor status."""

    run_id: str
    event_id: str
    hook: str
    state: str
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
    peak_memory_bytes: int | None = None
    cpu_s: float | None = None
    replay_of: str | None = None  # the run this one replays

    @property
    def final(self) -> bool:
        return self.state in FINAL_STATES

    def to_dict(self) -> dict[str, Any]:
        """The HTTP API's run: its lifecycle keeps the field name ``status`` there."""
        fields = self._asdict()
        return {"status" if name == "state" else name: value for name, value in fields.items()}


# Access-request states (DESIGN §7); transitions only move forward.
REQUEST_STATES = (
    "pending", "approved", "escalated", "deescalated", "denied", "expired", "revoked",
)  # fmt: skip
TIMER_KINDS = ("expire", "escalate", "deescalate", "revoke")


def _plain(value: Any) -> Any:
    """``value`` with what JSON cannot carry replaced: non-finite numbers by ``None``,
    lone surrogates by U+FFFD."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, str):
        return value.encode("utf-8", "surrogatepass").decode("utf-8", "replace")
    if isinstance(value, list):
        return [_plain(item) for item in value]
    if isinstance(value, dict):
        return {_plain(key): _plain(item) for key, item in value.items()}
    return value


def plain_object(text: str) -> dict[str, Any]:
    """A stored JSON object, made safe to send: no stored row may break a list of requests,
    whatever an older version let in."""
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):
        return {"unreadable": text[:200]}
    return _plain(value) if isinstance(value, dict) else {"unreadable": text[:200]}


class HistoryEntry(NamedTuple):
    """One audited step of a request: a transition, a refusal or an error."""

    event: str
    actor: str | None
    at: float
    message: str | None = None
    # False for a note (a refusal, an error): nothing happened, so its actor acted on nothing.
    transition: bool = True

    def to_dict(self) -> dict[str, Any]:
        actor = {"email": self.actor} if self.actor else None
        return {"event": self.event, "actor": actor, "at": self.at, "message": self.message}


class RequestRecord(NamedTuple):
    request_id: str
    flow: str
    state: str
    requester: str
    fields: dict[str, Any]
    duration_s: float
    created_at: float
    escalated_at: float | None = None
    expires_at: float | None = None
    error: str | None = None
    history: tuple[HistoryEntry, ...] = ()
    # What the escalate / deescalate steps wrote (HOOKRUNNER_STEP_OUTPUT), by step.
    step_outputs: dict[str, Any] = {}

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.request_id,
            "flow": self.flow,
            "state": self.state,
            "requester": {"email": self.requester},
            "fields": self.fields,
            "duration_s": self.duration_s,
            "created_at": self.created_at,
            "escalated_at": self.escalated_at,
            "expires_at": self.expires_at,
            "error": self.error,
            "history": [entry.to_dict() for entry in self.history],
        }


class TimerRecord(NamedTuple):
    timer_id: int
    request_id: str
    kind: str
    due_at: float
    attempt: int


class MessageRecord(NamedTuple):
    """One Slack message about a request (the outbox): where it goes, where it is once
    posted, and whether it still has to be brought up to date."""

    message_id: int
    request_id: str
    kind: str  # "announce" (a destination's message) or "requester" (the requester's DM)
    integration: str  # the [integrations.<name>] table that posts it
    target: dict[str, Any]  # the destination document, plus what the message may offer
    channel: str | None  # set once posted
    ts: str | None
    attempt: int
    error: str | None
    due_at: float | None  # when it is to be sent; None once Slack shows the request as it is


class Transition(NamedTuple):
    """A compare-and-swap of a request's state, with what changes alongside it."""

    from_states: tuple[str, ...]
    to_state: str
    entry: HistoryEntry
    updates: dict[str, Any] = {}
    cancel_timers: tuple[str, ...] = ()
    add_timers: tuple[tuple[str, float], ...] = ()
