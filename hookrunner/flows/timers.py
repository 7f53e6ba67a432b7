"""Fires the journal's request timers: expiry, escalation after approval, deescalation.

Timers live in the journal, so a timer that fell due while the daemon was down fires
at the next start. The engine marks a timer done in the same transaction as the
transition it causes. A due timer is leased to one host while it fires (renewed until
it ends), so with a fleet sharing the journal each timer fires once, and a timer whose
host died fires on another once the lease lapses.
"""

from __future__ import annotations

import asyncio
import contextlib
import time

import structlog

from hookrunner.flows.engine import Engine
from hookrunner.journal import Journal, JournalError, TimerRecord

log = structlog.get_logger("hookrunner.timers")
# Upper bound on a sleep, so a clock jump or a missed wake-up costs at most this.
MAX_SLEEP = 5.0


class TimerLoop:
    def __init__(self, journal: Journal, engine: Engine, lease: float) -> None:
        self.journal = journal
        self.engine = engine
        self.lease = lease
        self._in_flight: dict[int, asyncio.Task[None]] = {}

    async def run(self) -> None:
        changed = self.engine.timers_changed
        renewed = time.monotonic()
        while True:
            changed.clear()
            try:
                if time.monotonic() - renewed >= self.lease / 3:
                    await asyncio.to_thread(self.journal.renew_timers, list(self._in_flight))
                    renewed = time.monotonic()
                next_at = await self._start_due()
            except JournalError as exc:  # disk full, database away: timers are safe
                log.error("journal_error", error=str(exc))
                next_at = None
            delay = min(MAX_SLEEP, self.lease / 3)
            if next_at is not None:
                delay = min(delay, next_at - time.time())
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(changed.wait(), max(0.0, delay))

    async def _start_due(self) -> float | None:
        """Lease and start every due timer no host holds; when the next one falls due."""
        for timer in await asyncio.to_thread(self.journal.claim_timers, time.time()):
            if timer.timer_id not in self._in_flight:
                task = asyncio.create_task(self._fire(timer), name=f"timer-{timer.timer_id}")
                self._in_flight[timer.timer_id] = task
        return await asyncio.to_thread(self.journal.next_timer_at)

    async def _fire(self, timer: TimerRecord) -> None:
        try:
            await self.engine.fire_timer(timer)
        except Exception:  # a bug or a full disk must not stop the other timers
            log.exception("timer_error", timer=timer.kind, request_id=timer.request_id)
            await asyncio.sleep(MAX_SLEEP)
        finally:
            del self._in_flight[timer.timer_id]
            with contextlib.suppress(JournalError):  # else the lease lapses on its own
                await asyncio.to_thread(self.journal.release_timer, timer.timer_id)
            self.engine.timers_changed.set()

    async def stop(self, grace: float) -> None:
        """Let timers in flight finish up to ``grace``; the rest fire again at next start."""
        tasks = list(self._in_flight.values())
        if tasks:
            _done, pending = await asyncio.wait(tasks, timeout=grace)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
