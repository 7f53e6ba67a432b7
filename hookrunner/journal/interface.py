"""What dispatch, flows and the server may ask of a journal, whichever backend keeps it.

Two backends implement it (DESIGN §6): SQLite for one host, PostgreSQL for a fleet.
Every call is synchronous and short; callers run them in a thread. A backend that
cannot reach its storage raises :class:`~hookrunner.journal.records.JournalError`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Protocol

from hookrunner.execution import RunResult
from hookrunner.journal.records import (
    Accepted,
    Delivery,
    EventRecord,
    HistoryEntry,
    MessageRecord,
    RequestRecord,
    RunRecord,
    TimerRecord,
    Transition,
)


class HeldLock(Protocol):
    """A lock on one key, held across hosts until released."""

    def release(self) -> None: ...


class Journal(Protocol):
    # --- lifecycle -----------------------------------------------------------------------
    @property
    def schema_version(self) -> int: ...

    def close(self) -> None: ...

    # --- events and runs -----------------------------------------------------------------
    def accept(
        self,
        kind: str,
        body: dict[str, Any],
        hooks: list[str],
        dedup: Delivery | None = None,
        replay_of: str | None = None,
    ) -> Accepted:
        """Persist an event and its queued runs at once; a known delivery gets its first
        answer back, marked duplicate, and nothing new. ``replay_of`` links the runs to
        the run they replay."""
        ...

    def remember_delivery(self, delivery: Delivery) -> bool:
        """Record a delivery that creates no event; ``False`` if it was seen before."""
        ...

    def delivered(self, delivery: Delivery) -> bool:
        """Whether ``delivery`` was accepted or remembered before."""
        ...

    def requested(self, key: str) -> str | None:
        """The request a flow-request delivery key opened, if any."""
        ...

    def claim_due(self, now: float | None = None) -> RunRecord | None:
        """Take the oldest due queued run: ``running``, one more attempt, leased to us.

        Not durable on its own (nor are ``renew_runs`` and ``finish``): the next durable
        commit (an accepted event) makes it so, and a crash before that runs the attempt
        again, as a crash mid-run does."""
        ...

    def renew_runs(self, run_ids: list[str]) -> None:
        """Extend our leases on runs whose hooks are still running."""
        ...

    def finish(
        self, result: RunResult, state: str, next_at: float | None = None
    ) -> RunRecord | None:
        """Record an attempt's result; ``state`` is the run's new lifecycle state. A
        succeeded replay resolves the dead runs it replays (``replayed``). The run as it
        now stands; ``None`` if the attempt was no longer ours (another host took the run
        over)."""
        ...

    def interrupted_runs(self, now: float | None = None) -> list[RunRecord]:
        """Runs left ``running`` by a host that is gone: their attempt was cut short."""
        ...

    def next_due_at(self) -> float | None: ...

    def run(self, run_id: str) -> RunRecord | None: ...

    def runs(
        self, state: str | None = None, event_id: str | None = None, limit: int = 100
    ) -> list[RunRecord]:
        """Newest first, optionally filtered."""
        ...

    def event(self, event_id: str) -> EventRecord | None: ...

    def counts(self) -> dict[str, int]:
        """How many runs are in each lifecycle state."""
        ...

    def record_finished_runs(
        self, kind: str, body: dict[str, Any], results: list[RunResult]
    ) -> None:
        """An event and the runs a flow step already finished, so ``runs`` lists them."""
        ...

    # --- access requests, their history and timers ---------------------------------------
    def create_request(
        self,
        request: RequestRecord,
        entry: HistoryEntry,
        timers: tuple[tuple[str, float], ...],
        dedup_key: str | None = None,
    ) -> None: ...

    def transition(self, request_id: str, change: Transition) -> bool:
        """Compare-and-swap the state; ``False`` (and nothing written) if it had moved on."""
        ...

    def note(self, request_id: str, entry: HistoryEntry, error: str | None = None) -> None:
        """Audit a step that changed no state; ``error`` is shown on the request."""
        ...

    def request(self, request_id: str) -> RequestRecord | None: ...

    def requests(
        self, state: str | None = None, flow: str | None = None, limit: int = 100
    ) -> list[RequestRecord]: ...

    def claim_timers(self, now: float) -> list[TimerRecord]:
        """Lease every due pending timer no live host holds."""
        ...

    def renew_timers(self, timer_ids: list[int]) -> None: ...

    def release_timer(self, timer_id: int) -> None:
        """Give a timer's lease back so it can fire again when due."""
        ...

    def next_timer_at(self) -> float | None:
        """When the next pending timer no live host holds falls due."""
        ...

    def timer_pending(self, timer_id: int) -> bool: ...

    def finish_timers(self, request_id: str, kinds: tuple[str, ...]) -> None: ...

    def retry_timer(self, request_id: str, kind: str, due_at: float) -> int:
        """Push the pending ``kind`` timer to ``due_at`` (creating it if needed); how many
        times it has been retried."""
        ...

    def try_lock(self, key: str) -> HeldLock | None:
        """Lock ``key`` for every host sharing this journal, or ``None`` if one holds it."""
        ...

    # --- the Slack outbox ----------------------------------------------------------------
    def add_messages(
        self, request_id: str, messages: Iterable[tuple[str, str, dict[str, Any]]], now: float
    ) -> None:
        """Queue ``(kind, integration, target)`` messages about a request, due at once."""
        ...

    def touch_messages(self, request_id: str, now: float) -> int:
        """The request changed: every message about it is due again; how many there are."""
        ...

    def stale_messages(self, now: float) -> int:
        """Make due every message that does not show its request's state; how many."""
        ...

    def due_messages(self, now: float, limit: int = 50) -> list[MessageRecord]:
        """Lease up to ``limit`` due messages no live host holds, oldest due first."""
        ...

    def messages(self, request_id: str) -> list[MessageRecord]: ...

    def next_message_at(self) -> float | None: ...

    def message_sent(
        self, message_id: int, channel: str | None, ts: str | None, state: str, due_at: float
    ) -> None:
        """Slack shows ``state``; done unless the request was touched since ``due_at``."""
        ...

    def message_failed(self, message_id: int, error: str, due_at: float | None) -> None:
        """Try again at ``due_at``, or never (``None``: Slack refused it for good)."""
        ...
