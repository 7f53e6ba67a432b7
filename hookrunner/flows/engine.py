"""The access-request state machine of DESIGN §7.

For each event X: run ``on_X`` (it may ignore X or redirect to another event), then
the default step, then ``after_X``. Every state change is one compare-and-swap in the
journal with its history entry and timers, so two callers racing on one request get
one transition and one 409. Within this process, work on one request is also
serialised, so a racing caller waits instead of running hooks for nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
import weakref
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, NamedTuple, Protocol

import structlog

from hookrunner import metrics
from hookrunner.config import SettingsView
from hookrunner.execution import RunResult
from hookrunner.flows.definition import (
    DEESCALATE_RUNBOOK,
    ESCALATE_RUNBOOK,
    FlowDefinition,
    FlowError,
    load_flow,
)
from hookrunner.flows.events import Actor, event_document
from hookrunner.flows.runner import EventTooLarge, FlowRunner, HookCall
from hookrunner.journal import HistoryEntry, Journal, RequestRecord, TimerRecord, Transition
from hookrunner.repo import HookIndex
from hookrunner.runlog import report_run

log = structlog.get_logger("hookrunner.flows")

# The states each event may start from.
STARTS_FROM = {
    "approve": ("pending",),
    "deny": ("pending",),
    "escalate": ("approved",),
    "deescalate": ("escalated",),
}
REVOKE_STARTS_FROM = ("escalated", "approved")
# A chain that fires one event more often than this has a hook redirecting to itself.
MAX_FIRINGS_PER_EVENT = 2


class SnapshotSource(Protocol):
    """Where steps get their snapshot: the daemon's repository, or dry-run's tree."""

    def acquire(self) -> HookIndex | None: ...

    def release(self, index: HookIndex) -> None: ...


class Refused(Exception):
    """The event is not allowed: an ``ignore``, a failed ``on_`` hook, or approver rules."""


class WrongState(Exception):
    """The request is not in a state the event can start from."""


class NoSnapshot(Exception):
    """No snapshot of the runbooks repository is available yet."""


class Opened(NamedTuple):
    """A request, and whether an earlier delivery under the same key had opened it."""

    record: RequestRecord
    duplicate: bool


@dataclass
class Step:
    """One walk through the state machine, on one snapshot of one flow."""

    flow: FlowDefinition
    runner: FlowRunner
    results: list[RunResult] = field(default_factory=list)
    seen: Counter[str] = field(default_factory=Counter)
    revoke: bool = False  # a deescalation somebody asked for, rather than the timer's
    attempt: int = 0  # how often the timer driving this step has already been retried


class Engine:
    def __init__(
        self,
        journal: Journal,
        repository: SnapshotSource,
        settings: SettingsView,
        run_runbooks: bool = True,
    ) -> None:
        self.journal = journal
        self.repository = repository
        self.settings = settings
        # dry-run of approve must not grant access: it reports the runbook instead.
        self.run_runbooks = run_runbooks
        self.timers_changed = asyncio.Event()
        self._locks: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()

    # --- what the API and the timers call --------------------------------------------

    async def prompt(self, slug: str, email: str, fields: dict[str, Any]) -> None:
        """Raise :class:`Refused` if ``on_prompt`` turns ``email`` away."""
        async with self._step(slug, "flow.prompt", {"user": email}) as step:
            probe = RequestRecord("", slug, "pending", email, fields, 0.0, time.time())
            actor = Actor(email, "api")
            await self._on(step, "prompt", probe, actor, {}, with_request=False)
            await self._after(step, "prompt", probe, actor, {}, with_request=False)

    async def request(
        self,
        slug: str,
        email: str,
        fields: dict[str, Any],
        duration: float | None,
        dedup_key: str | None = None,
    ) -> Opened:
        """Open a request; ``on_request`` may refuse it, or approve or deny it at once.

        With ``dedup_key`` (from an ``Idempotency-Key``), a repeat gets the request the
        first delivery opened, as it is now, and runs no hook.
        """
        if dedup_key is None:
            return Opened(await self._open(slug, email, fields, duration, None), duplicate=False)
        async with self._lock(f"delivery:{dedup_key}"):  # a repeat racing the first waits
            known = await asyncio.to_thread(self.journal.requested, dedup_key)
            if known is not None:
                return Opened(await self._read(known), duplicate=True)
            return Opened(await self._open(slug, email, fields, duration, dedup_key), False)

    async def _open(
        self,
        slug: str,
        email: str,
        fields: dict[str, Any],
        duration: float | None,
        dedup_key: str | None,
    ) -> RequestRecord:
        async with self._step(slug, "flow.request", {"user": email}) as step:
            settings = step.flow.settings
            now = time.time()
            record = RequestRecord(
                str(uuid.uuid4()), slug, "pending", email, fields,
                settings.duration_for(duration), now, expires_at=now + settings.request_timeout,
            )  # fmt: skip
            actor = Actor(email, "api")
            directive = await self._on(step, "request", record, actor, {})
            entry = HistoryEntry("request", email, now, fields.get("reason"))
            expiry = (("expire", now + settings.request_timeout),)
            await asyncio.to_thread(self.journal.create_request, record, entry, expiry, dedup_key)
            self._transitioned(record, "pending")
            record = await self._read(record.request_id)
            if directive is not None and directive["directive"] != "request":
                async with self._lock(record.request_id):
                    return await self._redirect(step, record, "request", actor, {}, directive)
            await self._after(step, "request", record, actor, {})
            return record

    async def act(
        self, request_id: str, event: str, email: str, reason: str | None
    ) -> RequestRecord:
        """``approve``, ``deny`` or ``revoke`` by a person; :class:`LookupError` if unknown."""
        async with self._lock(request_id):
            record = await self._read(request_id)
            body = {"request_id": request_id, "user": email}
            async with self._step(record.flow, f"flow.{event}", body) as step:
                actor = Actor(email, "api")
                fields = {"reason": reason} if reason else {}
                if event != "revoke":
                    return await self._fire(step, record, event, actor, fields)
                step.revoke = True
                await self._check_revoker(step, record, actor)
                return await self._fire(step, record, "deescalate", actor, fields)

    async def fire_timer(self, timer: TimerRecord) -> None:
        """Expire, escalate or deescalate when a timer falls due; never twice."""
        async with self._lock(timer.request_id):
            if not await asyncio.to_thread(self.journal.timer_pending, timer.timer_id):
                return
            record = await self._read(timer.request_id)
            if timer.kind == "expire":
                await self._expire(record)
                return
            name = "escalate" if timer.kind == "escalate" else "deescalate"
            body = {"request_id": record.request_id, "timer": timer.kind}
            try:
                async with self._step(record.flow, f"flow.{timer.kind}", body) as step:
                    step.revoke = timer.kind == "revoke"
                    step.attempt = timer.attempt
                    await self._fire(step, record, name, Actor(None, "timer"), {})
            except (WrongState, Refused):
                await asyncio.to_thread(
                    self.journal.finish_timers, record.request_id, (timer.kind,)
                )
            except (LookupError, FlowError, NoSnapshot, EventTooLarge) as exc:  # flow gone/broken
                if name == "escalate":
                    await asyncio.to_thread(
                        self.journal.finish_timers, record.request_id, ("escalate",)
                    )
                    await self._note(record, name, None, f"cannot escalate: {exc}", error=True)
                else:
                    await self._retry_deescalation(record, timer.kind, timer.attempt, str(exc))

    # --- one event ---------------------------------------------------------------------

    async def _fire(
        self, step: Step, record: RequestRecord, name: str, actor: Actor, fields: dict[str, Any]
    ) -> RequestRecord:
        step.seen[name] += 1
        if step.seen[name] > MAX_FIRINGS_PER_EVENT:
            message = f"recursion gate: {name} was fired again by its own flow; stopped"
            await self._note(record, name, actor.email, message, error=True)
            raise Refused(message)
        allowed = REVOKE_STARTS_FROM if name == "deescalate" and step.revoke else STARTS_FROM[name]
        if record.state not in allowed:
            raise WrongState(f"request {record.request_id} is {record.state}; cannot {name}")
        try:
            if name in ("approve", "deny") and actor.channel == "api":
                await self._check_approver(step, record, actor)
            directive = await self._on(step, name, record, actor, fields)
        except Refused as refusal:
            await self._note(record, name, actor.email, f"refused: {refusal}", error=False)
            raise
        if directive is not None:
            return await self._redirect(step, record, name, actor, fields, directive)
        record, done = await self._default_step(step, record, name, actor, fields)
        if not done:
            return record
        await self._after(step, name, record, actor, fields)
        if name == "approve":
            try:
                record = await self._fire(step, record, "escalate", actor.fired_by_flow(), {})
            except (Refused, WrongState) as exc:
                await asyncio.to_thread(
                    self.journal.finish_timers, record.request_id, ("escalate",)
                )
                await self._note(record, "escalate", None, f"not escalated: {exc}", error=True)
                record = await self._read(record.request_id)
        return record

    async def _redirect(
        self,
        step: Step,
        record: RequestRecord,
        name: str,
        actor: Actor,
        fields: dict[str, Any],
        directive: dict[str, Any],
    ) -> RequestRecord:
        target = str(directive["directive"])
        if target not in STARTS_FROM:
            message = f"on_{name} redirected to {target}, which an open request cannot take"
            await self._note(record, name, actor.email, message, error=True)
            raise Refused(message)
        merged = {**fields, **(directive.get("fields") or {})}
        return await self._fire(step, record, target, actor.fired_by_flow(), merged)

    async def _default_step(
        self, step: Step, record: RequestRecord, name: str, actor: Actor, fields: dict[str, Any]
    ) -> tuple[RequestRecord, bool]:
        now = time.time()
        entry = HistoryEntry(name, actor.email, now, fields.get("reason"))
        if name == "approve":
            change = Transition(
                ("pending",), "approved", entry, {"expires_at": None},
                cancel_timers=("expire",), add_timers=(("escalate", now),),
            )  # fmt: skip
        elif name == "deny":
            change = Transition(
                ("pending",), "denied", entry, {"expires_at": None}, cancel_timers=("expire",)
            )
        elif name == "escalate":
            call = await self._runbook(step, ESCALATE_RUNBOOK, name, record, actor, fields)
            if call is not None and not call.ok:
                await asyncio.to_thread(
                    self.journal.finish_timers, record.request_id, ("escalate",)
                )
                message = f"{ESCALATE_RUNBOOK} failed, access not granted: {call.error}"
                log.error("escalation_failed", request_id=record.request_id, error=call.error)
                await self._note(record, name, actor.email, message, error=True)
                return await self._read(record.request_id), False
            expires = now + record.duration_s
            change = Transition(
                ("approved",), "escalated", entry,
                {"escalated_at": now, "expires_at": expires, "error": None},
                cancel_timers=("escalate",), add_timers=(("deescalate", expires),),
            )  # fmt: skip
        else:
            call = await self._runbook(step, DEESCALATE_RUNBOOK, name, record, actor, fields)
            if call is not None and not call.ok:
                kind = "revoke" if step.revoke else "deescalate"
                await self._retry_deescalation(record, kind, step.attempt, str(call.error))
                return await self._read(record.request_id), False
            change = Transition(
                REVOKE_STARTS_FROM if step.revoke else ("escalated",),
                "revoked" if step.revoke else "deescalated",
                entry._replace(event="revoke" if step.revoke else "deescalate"),
                {"expires_at": None, "error": None},
                cancel_timers=("escalate", "deescalate", "revoke"),
            )
        if not await asyncio.to_thread(self.journal.transition, record.request_id, change):
            current = await self._read(record.request_id)
            raise WrongState(f"request {record.request_id} is {current.state}; cannot {name}")
        self._transitioned(record, change.to_state)
        return await self._read(record.request_id), True

    async def _expire(self, record: RequestRecord) -> None:
        entry = HistoryEntry("expire", None, time.time(), "request_timeout passed")
        change = Transition(("pending",), "expired", entry, {"expires_at": None}, ("expire",))
        if await asyncio.to_thread(self.journal.transition, record.request_id, change):
            self._transitioned(record, "expired")
        else:
            await asyncio.to_thread(self.journal.finish_timers, record.request_id, ("expire",))

    async def _retry_deescalation(
        self, record: RequestRecord, kind: str, attempt: int, error: str
    ) -> None:
        """Access is still granted: try again with backoff, loudly, until it works."""
        delay = self.settings.retry.delay_before(attempt + 2)
        await asyncio.to_thread(
            self.journal.retry_timer, record.request_id, kind, time.time() + delay
        )
        self.timers_changed.set()
        message = (
            f"{DEESCALATE_RUNBOOK} failed, access still granted; retrying in {delay:g}s: {error}"
        )
        log.error(
            "deescalation_failed",
            request_id=record.request_id,
            flow=record.flow,
            attempt=attempt + 1,
            retry_in_s=delay,
            error=error,
        )
        await self._note(record, "deescalate", None, message, error=True)

    # --- hooks -------------------------------------------------------------------------

    async def _on(
        self,
        step: Step,
        name: str,
        record: RequestRecord,
        actor: Actor,
        fields: dict[str, Any],
        with_request: bool = True,
    ) -> dict[str, Any] | None:
        """``on_<name>``'s directive; a failure blocks the event (fail closed), except for
        ``on_deescalate``: removing access is never blocked."""
        hook = f"on_{name}"
        call = await self._call(step, hook, name, record, actor, fields, with_request)
        if call is None:
            return None
        if call.ok:
            directive: dict[str, Any] | None = call.value
            if directive is None or directive["directive"] != "ignore":
                return directive
            if name == "deescalate":  # removing access is never blocked
                log.warning("ignore_overruled", hook=hook, request_id=record.request_id)
                return None
            raise Refused(directive.get("message") or f"{hook} ignored the {name}")
        if name == "deescalate":
            log.warning("hook_failed", hook=hook, request_id=record.request_id, error=call.error)
            return None
        raise Refused(f"{hook} failed, so the {name} is blocked: {call.error}")

    async def _after(
        self,
        step: Step,
        name: str,
        record: RequestRecord,
        actor: Actor,
        fields: dict[str, Any],
        with_request: bool = True,
    ) -> None:
        hook = f"after_{name}"
        call = await self._call(step, hook, name, record, actor, fields, with_request)
        if call is not None and not call.ok:
            log.warning("hook_failed", hook=hook, request_id=record.request_id, error=call.error)

    async def _call(
        self,
        step: Step,
        hook: str,
        name: str,
        record: RequestRecord,
        actor: Actor,
        fields: dict[str, Any],
        with_request: bool = True,
    ) -> HookCall | None:
        """Run hook or reducer ``hook``; ``None`` when the flow does not define it."""
        if hook not in step.flow.hooks and hook not in step.flow.reducers:
            return None
        event = event_document(name, step.flow, record, actor, fields, time.time(), with_request)
        call = await step.runner.hook(step.flow, hook, event, record.request_id)
        step.results.append(call.result)
        return call

    async def _runbook(
        self,
        step: Step,
        runbook: str,
        name: str,
        record: RequestRecord,
        actor: Actor,
        fields: dict[str, Any],
    ) -> HookCall | None:
        path = step.flow.runbook(runbook)
        if path is None:
            return None
        if not self.run_runbooks:
            log.warning("runbook_not_run", runbook=runbook, reason="dry-run")
            return None
        event = event_document(name, step.flow, record, actor, fields, time.time())
        call = await step.runner.runbook(step.flow, path, event, record.request_id)
        step.results.append(call.result)
        return call

    # --- who may act ---------------------------------------------------------------------

    async def _approvers(
        self, step: Step, record: RequestRecord, actor: Actor
    ) -> frozenset[str] | None:
        """The approvers' e-mails, lower-cased; ``None`` when anyone may approve."""
        call = await self._call(step, "get_approvers", "approve", record, actor, {})
        if call is not None:
            if not call.ok or not isinstance(call.value, list):
                raise Refused(f"get_approvers failed, so nobody may approve: {call.error}")
            return frozenset(str(email).lower() for email in call.value)
        configured = step.flow.settings.approvers
        return frozenset(email.lower() for email in configured) if configured else None

    async def _check_approver(self, step: Step, record: RequestRecord, actor: Actor) -> None:
        email = (actor.email or "").lower()
        approvers = await self._approvers(step, record, actor)
        if approvers is not None and email not in approvers:
            raise Refused(f"{actor.email} is not an approver of flow {step.flow.slug}")
        if email == record.requester.lower() and not step.flow.settings.allow_self_approval:
            raise Refused(f"self-approval is not allowed in flow {step.flow.slug}")

    async def _check_revoker(self, step: Step, record: RequestRecord, actor: Actor) -> None:
        email = (actor.email or "").lower()
        if email == record.requester.lower():
            return
        approvers = await self._approvers(step, record, actor)
        if approvers is not None and email not in approvers:
            await self._note(record, "revoke", actor.email, "refused: not an approver", False)
            raise Refused(f"{actor.email} may not revoke: neither the requester nor an approver")

    # --- plumbing ------------------------------------------------------------------------

    def _lock(self, request_id: str) -> asyncio.Lock:
        lock = self._locks.get(request_id)
        if lock is None:
            lock = self._locks[request_id] = asyncio.Lock()
        return lock

    @contextlib.asynccontextmanager
    async def _step(self, slug: str, kind: str, body: dict[str, Any]) -> AsyncIterator[Step]:
        """Pin a snapshot, load the flow, and journal every process the step ran."""
        index = await asyncio.to_thread(self.repository.acquire)
        if index is None:
            raise NoSnapshot("no snapshot of the runbooks repository yet")
        try:
            flow = load_flow(index, slug)
            event_id = str(uuid.uuid4())
            step = Step(flow, FlowRunner(self.settings.executor, index.snapshot.commit, event_id))
            try:
                yield step
            finally:
                await self._record(step, kind, {"flow": slug, **body})
        finally:
            self.repository.release(index)

    async def _record(self, step: Step, kind: str, body: dict[str, Any]) -> None:
        await asyncio.to_thread(self.journal.record_finished_runs, kind, body, step.results)
        for result in step.results:
            report_run(result)

    async def _read(self, request_id: str) -> RequestRecord:
        record = await asyncio.to_thread(self.journal.request, request_id)
        if record is None:
            raise LookupError(f"no request {request_id!r}")
        return record

    async def _note(
        self, record: RequestRecord, event: str, actor: str | None, message: str, error: bool
    ) -> None:
        entry = HistoryEntry(event, actor, time.time(), message)
        await asyncio.to_thread(
            self.journal.note, record.request_id, entry, message if error else None
        )

    def _transitioned(self, record: RequestRecord, state: str) -> None:
        metrics.FLOW_TRANSITIONS.labels(flow=record.flow, to=state).inc()
        log.info("flow_transition", request_id=record.request_id, flow=record.flow, to=state)
        self.timers_changed.set()
