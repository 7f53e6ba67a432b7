"""Journal → hook lookup → executor → journal, with retries.

Workers take due runs from the journal, never from memory, so what is queued survives
a crash. A run is pinned to one snapshot for its attempt. Tempfail, timeout and
interruption are retried with ``retry.backoff``; after ``retry.max_attempts`` the run
is ``dead`` and waits for a person to replay it.

A claimed run is leased to this host; the lease is renewed while its hook runs. When a
host dies its leases lapse and any host's sweep cuts those attempts short and retries
them (at-least-once), so work accepted by a host that is gone still runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import defaultdict
from typing import NamedTuple

import structlog

from hookrunner import metrics
from hookrunner.config import SettingsView
from hookrunner.execution import RETRYABLE, RunResult, RunStatus
from hookrunner.hook_runtime import HookRuntime
from hookrunner.journal import Accepted, Delivery, EventRecord, Journal, JournalError, RunRecord
from hookrunner.payloads import SESSION_KINDS, SessionEvent
from hookrunner.repo import HookIndex, Repository
from hookrunner.runlog import report_run
from hookrunner.session_hooks import hook_name, run_session_hook

log = structlog.get_logger("hookrunner.dispatch")
IDLE_POLL = 0.5
JOURNAL_RETRY = 1.0
# How often ``?wait=true`` reads the journal for runs another host may be running.
SETTLED_POLL = 0.5


class NotReplayable(Exception):
    """Only session events are replayed: a flow hook ran as one step of its request."""


class Claim(NamedTuple):
    """A claimed run with its event and pinned snapshot; without a run, when one is due."""

    run: RunRecord | None
    event: EventRecord | None = None
    hooks: HookIndex | None = None
    next_due: float | None = None
    failed: RunResult | None = None  # the attempt, when it ended before its hook could start


def plain_exec_session(sid: str) -> Delivery:
    """Remembered when a ``plain-exec`` session opens, so that its close is skipped too."""
    return Delivery("session", f"plain-exec:{sid}")


def failed_attempt(run: RunRecord, status: RunStatus, message: str) -> RunResult:
    """A result for an attempt that never reached a hook process."""
    return RunResult(
        run.run_id, run.event_id, run.hook, run.commit or "", run.attempt,
        status, None, "", f"hookrunner: {message}", False, time.time(), 0.0,
    )  # fmt: skip


class Dispatcher:
    def __init__(
        self,
        journal: Journal,
        repository: Repository,
        settings: SettingsView,
        runtime: HookRuntime,
    ) -> None:
        self.journal = journal
        self.repository = repository
        self.settings = settings
        self.runtime = runtime
        self.running = 0
        # Counts notifications, so a wake-up is never lost between a claim and a wait.
        self._wakeup = asyncio.Semaphore(0)
        # Each gets the run as its attempt left it, or None: read it from the journal.
        self._waiters: defaultdict[str, list[asyncio.Future[RunRecord | None]]] = defaultdict(list)
        self._workers: list[asyncio.Task[None]] = []
        self._stopping = False
        self._leased: set[str] = set()
        metrics.QUEUE_DEPTH.set_function(self._queue_depth)

    def _queue_depth(self) -> int:
        try:
            return self.journal.counts().get("queued", 0)
        except JournalError:  # the database is away: the gauge says nothing rather than fail
            return 0

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self.recover_interrupted()
        self._workers = [
            asyncio.create_task(self._worker(), name=f"worker-{n}")
            for n in range(self.settings.executor.max_concurrency)
        ]
        self._lease_keeper = asyncio.create_task(self._keep_leases(), name="leases")

    def recover_interrupted(self) -> None:
        """Runs left ``running`` by a crash, or by a host whose lease lapsed, become
        ``interrupted`` attempts, then retry."""
        for run in self.journal.interrupted_runs():
            result = failed_attempt(run, "interrupted", "the daemon stopped during this attempt")
            state, next_at = self._next_state(result)
            if self.journal.finish(result, state, next_at):
                log.warning(
                    "run_interrupted", run_id=run.run_id, event_id=run.event_id, state=state
                )

    async def _keep_leases(self) -> None:
        """Renew the leases of runs in flight, and take over runs whose lease lapsed."""
        interval = self.settings.journal.lease / 3
        while True:
            await asyncio.sleep(interval)
            try:
                await asyncio.to_thread(self.journal.renew_runs, sorted(self._leased))
                await asyncio.to_thread(self.recover_interrupted)
            except JournalError as exc:  # the database is away: leases wait with it
                log.error("journal_error", error=str(exc))

    def submit(
        self, event: SessionEvent, dedup: Delivery | None = None, replay_of: str | None = None
    ) -> Accepted:
        """Commit a session event and its run to the journal, then wake a worker. A
        ``plain-exec`` session is remembered before its open is accepted, so its close,
        which comes later and carries no verb, is skipped as hoop skips it."""
        if event.open is not None and event.hoop_skips:
            self.journal.remember_delivery(plain_exec_session(event.sid))
        elif event.close is not None and self.journal.delivered(plain_exec_session(event.sid)):
            event = event.model_copy(update={"plain_exec_session": True})
        accepted = self.journal.accept(
            event.kind, event.model_dump(), [hook_name(event.kind)], dedup, replay_of
        )
        self._loop.call_soon_threadsafe(self._wakeup.release)
        return accepted

    def replay(self, run_id: str) -> Accepted | None:
        """A new event with the same body as ``run_id``'s, linked to it so that its success
        resolves a dead ``run_id``; ``None`` if there is no such run."""
        run = self.journal.run(run_id)
        record = self.journal.event(run.event_id) if run else None
        if record is None:
            return None
        if record.kind not in SESSION_KINDS:
            raise NotReplayable(
                f"run {run_id} is a flow hook ({record.kind}), a step of its access request:"
                " act on the request instead (hookrunner flow list / show / revoke)"
            )
        return self.submit(SessionEvent.model_validate(record.body), replay_of=run_id)

    async def wait_for(
        self, run_ids: list[str], timeout: float, look_first: bool = True
    ) -> list[RunRecord]:
        """Wait until each run has finished an attempt (or ``timeout``), then read them.

        ``look_first=False``: the runs were queued just now, so the journal is not read
        before the first wait (an attempt this daemon ends is handed over, not read)."""
        futures = []
        loop = asyncio.get_running_loop()
        for run_id in run_ids:
            future: asyncio.Future[RunRecord | None] = loop.create_future()
            self._waiters[run_id].append(future)
            futures.append(future)
        deadline = loop.time() + timeout
        look = look_first
        try:
            while True:
                # Another host sharing the journal may run them: look, not only listen.
                pending = [
                    future
                    for run_id, future in zip(run_ids, futures, strict=True)
                    if not future.done() and not (look and self._settled(run_id))
                ]
                remaining = deadline - loop.time()
                if not pending or remaining <= 0:
                    break
                await asyncio.wait(pending, timeout=min(remaining, SETTLED_POLL))
                look = True
        finally:
            for run_id, future in zip(run_ids, futures, strict=True):
                with contextlib.suppress(ValueError):
                    self._waiters[run_id].remove(future)
                if not self._waiters[run_id]:
                    del self._waiters[run_id]
        records = [
            (future.result() if future.done() else None) or self.journal.run(run_id)
            for run_id, future in zip(run_ids, futures, strict=True)
        ]
        return [record for record in records if record is not None]

    def _settled(self, run_id: str) -> bool:
        record = self.journal.run(run_id)
        return record is None or record.final or record.outcome is not None

    async def stop(self, grace: float) -> None:
        """Stop claiming; let running hooks finish up to ``grace``, then cancel them."""
        self._stopping = True
        for _ in self._workers:
            self._wakeup.release()
        if not self._workers:
            return
        _done, pending = await asyncio.wait(self._workers, timeout=grace)
        # Leases are kept until the last hook has ended.
        for task in (*pending, self._lease_keeper):
            task.cancel()
        await asyncio.gather(*pending, self._lease_keeper, return_exceptions=True)

    async def _worker(self) -> None:
        # The next run, claimed as the last attempt was recorded: it is ours, so it runs
        # even when a stop came meanwhile.
        claim: Claim | None = None
        while not self._stopping or (claim is not None and claim.run is not None):
            if claim is None:
                try:
                    claim = await asyncio.to_thread(self._claim)
                except JournalError as exc:  # disk full: nothing is lost, try again shortly
                    log.error("journal_error", error=str(exc))
                    await asyncio.sleep(JOURNAL_RETRY)
                    continue
            if claim.run is None:
                await self._idle(claim.next_due)
                claim = None
                continue
            run_id = claim.run.run_id
            self.running += 1
            self._leased.add(run_id)
            try:
                claim = await self._attempt(claim)
            finally:
                self.running -= 1
                self._leased.discard(run_id)

    def _claim(self) -> Claim:
        """In a worker thread: claim a due run and fetch all its attempt needs, in one hop.

        Until the first snapshot exists nothing is claimed: runs wait in the queue without
        spending attempts on a clone that has not finished yet.
        """
        if self.repository.last_good() is None:
            return Claim(None)
        run = self.journal.claim_due()
        if run is None:
            return Claim(None, next_due=self.journal.next_due_at())
        try:
            event = self.journal.event(run.event_id)
            hooks = self.repository.acquire() if event is not None else None
        except JournalError as exc:  # an outage began after the claim: try the run again
            log.error("journal_error", error=str(exc), run_id=run.run_id)
            message = f"the journal failed before the hook started: {exc}"
            return Claim(run, failed=failed_attempt(run, "interrupted", message))
        except Exception as exc:  # the run is claimed now: it must end as an attempt
            log.exception("claim_error", run_id=run.run_id)
            return Claim(run, failed=failed_attempt(run, "failed", f"internal error: {exc}"))
        return Claim(run, event, hooks)

    async def _idle(self, next_due: float | None) -> None:
        delay = IDLE_POLL if next_due is None else min(IDLE_POLL, max(0.0, next_due - time.time()))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wakeup.acquire(), delay)

    async def _attempt(self, claim: Claim) -> Claim | None:
        """Run a claimed run's attempt and record it; the worker's next claim, if it was
        made as the attempt was recorded."""
        run = claim.run
        assert run is not None
        structlog.contextvars.bind_contextvars(run_id=run.run_id, event_id=run.event_id)
        try:
            result = await self._run_hook(run, claim)
        except Exception as exc:  # a bug or a corrupt record must not kill the worker
            log.exception("run_error")
            result = failed_attempt(run, "failed", f"internal error: {exc}")
        finally:
            structlog.contextvars.unbind_contextvars("run_id", "event_id")
            if claim.hooks is not None:
                self.repository.release(claim.hooks)
        state, next_at = self._next_state(result)
        record, following = await self._record(result, state, next_at)
        # The run's lifecycle state, and the attempt's executor status as its outcome.
        report_run(result, status=state, outcome=result.status)
        for future in self._waiters.get(run.run_id, []):
            if not future.done():
                future.set_result(record)
        return following

    async def _record(
        self, result: RunResult, state: str, next_at: float | None
    ) -> tuple[RunRecord | None, Claim | None]:
        """Write the attempt's result, waiting out a full disk or a database outage rather
        than dropping it; the run as it now stands, and the worker's next claim."""
        while True:
            try:
                record, following = await asyncio.to_thread(
                    self._finish_and_claim, result, state, next_at
                )
            except JournalError as exc:
                log.error("journal_error", error=str(exc), run_id=result.run_id)
                await asyncio.sleep(JOURNAL_RETRY)
                continue
            if record is None:
                log.warning("run_taken_over", run_id=result.run_id, attempt=result.attempt)
            return record, following

    def _finish_and_claim(
        self, result: RunResult, state: str, next_at: float | None
    ) -> tuple[RunRecord | None, Claim | None]:
        """In a worker thread: record the attempt, then claim the worker's next run, in one
        hop. A claim that fails is left to the worker's own claim, which says why."""
        record = self.journal.finish(result, state, next_at)
        if self._stopping:
            return record, None
        try:
            return record, self._claim()
        except JournalError:
            return record, None

    async def _run_hook(self, run: RunRecord, claim: Claim) -> RunResult:
        if claim.failed is not None:
            return claim.failed
        if claim.event is None:
            return failed_attempt(run, "failed", "event missing from the journal")
        if claim.hooks is None:
            return failed_attempt(run, "tempfail", "no snapshot of the runbooks repository yet")
        return await run_session_hook(
            SessionEvent.model_validate(claim.event.body),
            claim.hooks,
            self.settings.executor,
            self.runtime,
            run_id=run.run_id,
            event_id=run.event_id,
            attempt=run.attempt,
        )

    def _next_state(self, result: RunResult) -> tuple[str, float | None]:
        """The run's lifecycle state after this attempt, and when to try again."""
        if result.status not in RETRYABLE:
            return result.status, None
        if result.attempt >= self.settings.retry.max_attempts:
            return "dead", None
        return "queued", time.time() + self.settings.retry.delay_before(result.attempt + 1)
