"""Fires the journal's request timers: expiry, escalation after approval, deescalation.

Timers live in the journal, so a timer that fell due while the daemon was down fires
at the next start. The engine marks a timer done in the same transaction as the
transition it causes, and one timer is never in flight twice in this process.
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
    def __init__(self, journal: Journal, engine: Engine) -> None:
        self.journal = journal
        self.engine = engine
        self._in_flight: dict[int, asyncio.Task[None]] = {}

    async def run(self) -> None:
        changed = self.engine.timers_changed
        while True:
            changed.clear()
            try:
                next_at = await self._start_due()
            except JournalError as exc:  # disk full: the timers are safe, look again later
                log.error("journal_error", error=str(exc))
                next_at = None
            delay = MAX_SLEEP if next_at is None else min(MAX_SLEEP, next_at - time.time())
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(changed.wait(), max(0.0, delay))

    async def _start_due(self) -> float | None:
        """Start every due timer not already in flight; when the next one falls due."""
        for timer in await asyncio.to_thread(self.journal.due_timers, time.time()):
            if timer.timer_id not in self._in_flight:
                task = asyncio.create_task(self._fire(timer), name=f"timer-{timer.timer_id}")
                self._in_flight[timer.timer_id] = task
        return await asyncio.to_thread(self.journal.next_timer_at, list(self._in_flight))

    async def _fire(self, timer: TimerRecord) -> None:
        try:
            await self.engine.fire_timer(timer)
        except Exception:  # a bug or a full disk must not stop the other timers
            log.exception("timer_error", timer=timer.kind, request_id=timer.request_id)
            await asyncio.sleep(MAX_SLEEP)
        finally:
            del self._in_flight[timer.timer_id]
            self.engine.timers_changed.set()

    async def stop(self, grace: float) -> None:
        """Let timers in flight finish up to ``grace``; the rest fire again at next start."""
        tasks = list(self._in_flight.values())
        if tasks:
            _done, pending = await asyncio.wait(tasks, timeout=grace)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
