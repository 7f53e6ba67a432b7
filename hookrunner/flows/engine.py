"""The access-request engine of DESIGN §7: runs the state machine of :mod:`states`.

For each event X: run ``on_X`` (it may ignore X or redirect to another event), then
the default step, then ``after_X``. Every state change is one compare-and-swap in the
journal with its history entry and timers, so two callers racing on one request get
one transition and one 409. Work on one request is also serialised, within this
process and across the hosts sharing the journal (a lock the journal holds), so a racing
caller waits instead of running hooks for nothing, and a timer another host is firing
is seen done rather than fired twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
import weakref
from collections.abc import AsyncIterator
from typing import Any, NamedTuple, Protocol

import structlog

from hookrunner import metrics
from hookrunner.config import SettingsView
from hookrunner.flows.calls import Calls, Step
from hookrunner.flows.catalog import Catalog, FlowState
from hookrunner.flows.definition import parse_duration
from hookrunner.flows.errors import (
    Conflict,
    FlowEngineError,
    FlowUnavailable,
    Invalid,
    NoSnapshot,
    NotFound,
    Refused,
)
from hookrunner.flows.events import Actor
from hookrunner.flows.fields import check_fields, check_text
from hookrunner.flows.identity import canonical_email
from hookrunner.flows.notices import Announcement, Notifier, Silent
from hookrunner.flows.runner import FlowRunner, HookCall
from hookrunner.flows.states import REDIRECTABLE, rule_for
from hookrunner.hook_runtime import HookRuntime
from hookrunner.integrations.channel import ChannelServer
from hookrunner.journal import HistoryEntry, Journal, RequestRecord, TimerRecord, Transition
from hookrunner.repo import HookIndex
from hookrunner.runlog import report_run

log = structlog.get_logger("hookrunner.flows")

# How often a caller waiting for a request another host works on looks again.
LOCK_POLL = 0.05
# A chain that fires one event more often than this has a hook redirecting to itself.
MAX_FIRINGS_PER_EVENT = 2
MAX_REASON = 4096


class SnapshotSource(Protocol):
    """Where steps get their snapshot: the daemon's repository, or dry-run's tree."""

    def acquire(self) -> HookIndex | None: ...

    def release(self, index: HookIndex) -> None: ...


class Opened(NamedTuple):
    """A request, and whether an earlier delivery under the same key had opened it."""

    record: RequestRecord
    duplicate: bool


def _reason(reason: str | None) -> dict[str, Any]:
    if reason is None:
        return {}
    if len(reason) > MAX_REASON:
        raise Invalid(f"reason: longer than {MAX_REASON} characters")
    return {"reason": check_text(reason, "reason")}


def _hook_duration(value: Any) -> float:
    """The ``duration`` of ``on_request``'s template, in seconds (``timedelta`` arrives as
    seconds); a value that is none is the hook's failure."""
    try:
        return parse_duration(value)
    except ValueError as exc:
        raise Refused(f"on_request returned an invalid duration {value!r}: {exc}") from None


def _message(fields: dict[str, Any]) -> str | None:
    """The history message of an event: its ``reason``, as text whatever its type."""
    reason = fields.get("reason")
    if reason is None or isinstance(reason, str):
        return reason
    return json.dumps(reason)[:MAX_REASON]


class Engine:
    def __init__(
        self,
        journal: Journal,
        repository: SnapshotSource,
        settings: SettingsView,
        runtime: HookRuntime,
        run_runbooks: bool = True,
        notifier: Notifier | None = None,
        channel: ChannelServer | None = None,
    ) -> None:
        self.journal = journal
        self.notifier: Notifier = notifier or Silent()
        self.channel = channel  # hooks reach the integrations through it
        self.repository = repository
        self.settings = settings
        self.runtime = runtime  # the isolation and environments every flow process runs with
        self.catalog = Catalog(settings, runtime)
        self.calls = Calls(
            journal, settings, run_runbooks, channel.integrations if channel else None
        )
        self.timers_changed = asyncio.Event()
        self._locks: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()

    # --- what the API and the timers call --------------------------------------------

    async def prompt(self, slug: str, email: str, fields: dict[str, Any]) -> None:
        """Raise :class:`Refused` if ``on_prompt`` turns ``email`` away."""
        email = canonical_email(email)
        async with self._step(slug, "flow.prompt", {"user": email}) as step:
            actor = Actor(email, "api")
            await self.calls.on(step, "prompt", None, actor, fields)
            await self.calls.after(step, "prompt", None, actor, fields)

    async def options(self, slug: str, name: str, email: str) -> list[dict[str, Any]]:
        """The options of prompt field ``name`` for ``email`` (who opens the form, as in
        Sym), from its ``@prefetch`` reducer."""
        email = canonical_email(email)
        async with self._step(slug, "flow.prefetch", {"field": name, "user": email}) as step:
            return await self.calls.options(step, name, Actor(email, "api"))

    async def flows(self) -> tuple[str | None, list[FlowState]]:
        """The commit served, and each of its flows: served, or broken and why."""
        index = await asyncio.to_thread(self.repository.acquire)
        if index is None:
            return None, []
        try:
            return index.snapshot.commit, await self.catalog.states(index)
        finally:
            self.repository.release(index)

    async def flow(self, slug: str) -> FlowState:
        index = await asyncio.to_thread(self.repository.acquire)
        if index is None:
            raise NoSnapshot("no snapshot of the runbooks repository yet")
        try:
            return await self.catalog.state(index, slug)
        finally:
            self.repository.release(index)

    async def request(
        self,
        slug: str,
        email: str,
        fields: dict[str, Any],
        duration: float | None,
        dedup_key: str | None = None,
        channel: str = "api",
    ) -> Opened:
        """Open a request; ``on_request`` may refuse it, or approve or deny it at once.

        With ``dedup_key`` (from an ``Idempotency-Key``), a repeat gets the request the
        first delivery opened, as it is now, and runs no hook. ``channel`` is where the
        person asked (``api`` or ``slack``).
        """
        actor = Actor(canonical_email(email), channel)
        if dedup_key is None:
            return Opened(await self._open(slug, actor, fields, duration, None), duplicate=False)
        async with self._lock(f"delivery:{dedup_key}"):  # a repeat racing the first waits
            known = await asyncio.to_thread(self.journal.requested, dedup_key)
            if known is not None:
                return Opened(await self._read(known), duplicate=True)
            return Opened(await self._open(slug, actor, fields, duration, dedup_key), False)

    async def _open(
        self,
        slug: str,
        actor: Actor,
        fields: dict[str, Any],
        duration: float | None,
        dedup_key: str | None,
    ) -> RequestRecord:
        email = actor.email or ""
        async with self._step(slug, "flow.request", {"user": email}) as step:
            settings = step.flow.definition.settings
            fields = check_fields(settings, fields)
            await self.calls.check_prefetched(step, fields, actor)
            if duration is None and "duration" in fields:
                try:
                    duration = parse_duration(fields["duration"])
                except ValueError as exc:
                    raise Invalid(f"fields.duration: {exc}") from None
            now = time.time()
            record = RequestRecord(
                str(uuid.uuid4()), slug, "pending", email, fields,
                settings.duration_for(duration), now, expires_at=now + settings.request_timeout,
            )  # fmt: skip
            directive = await self.calls.on(step, "request", record, actor, {})
            if directive is not None and directive["fields"].get("duration") is not None:
                chosen = _hook_duration(directive["fields"]["duration"])
                record = record._replace(duration_s=settings.duration_for(chosen))
            entry = HistoryEntry("request", email, now, _message(fields))
            expiry = (("expire", now + settings.request_timeout),)
            await asyncio.to_thread(self.journal.create_request, record, entry, expiry, dedup_key)
            self._transitioned(record, "pending")
            delivered = self.notifier.delivers(settings.integrations)
            destinations = await self.calls.notify(step, record, actor, delivered)
            if destinations:
                announcement = Announcement(destinations, settings.integrations,
                                            settings.allow_revoke)  # fmt: skip
                await self.notifier.opened(record, announcement)
            record = await self._read(record.request_id)
            if directive is not None and directive["directive"] != "request":
                async with self._lock(record.request_id):
                    return await self._redirect(step, record, "request", actor, {}, directive)
            await self.calls.after(step, "request", record, actor, {})
            return record

    async def act(
        self, request_id: str, event: str, email: str, reason: str | None, channel: str = "api"
    ) -> RequestRecord:
        """``approve``, ``deny`` or ``revoke`` by a person, through ``channel`` (``api`` or
        ``slack``): the same rules either way."""
        email = canonical_email(email)
        fields = _reason(reason)
        async with self._lock(request_id):
            record = await self._read(request_id)
            body = {"request_id": request_id, "user": email}
            removal = event == "revoke"
            async with self._step(record.flow, f"flow.{event}", body, removal) as step:
                actor = Actor(email, channel)
                if event != "revoke":
                    return await self._fire(step, record, event, actor, fields)
                step.revoke = True
                await self.calls.check_revoker(step, record, actor)
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
                removal = name == "deescalate"
                async with self._step(record.flow, f"flow.{timer.kind}", body, removal) as step:
                    step.revoke = timer.kind == "revoke"
                    step.attempt = timer.attempt
                    await self._fire(step, record, name, Actor(None, "timer"), {})
            except (Conflict, Refused):
                await asyncio.to_thread(
                    self.journal.finish_timers, record.request_id, (timer.kind,)
                )
            except (NotFound, FlowUnavailable, NoSnapshot, Invalid) as exc:  # flow gone/broken
                if name == "escalate":
                    await asyncio.to_thread(
                        self.journal.finish_timers, record.request_id, ("escalate",)
                    )
                    await self.calls.note(record, name, None, f"cannot escalate: {exc}", error=True)
                else:
                    await self._retry_deescalation(record, timer.kind, timer.attempt, str(exc))

    # --- one event ---------------------------------------------------------------------

    async def _fire(
        self, step: Step, record: RequestRecord, name: str, actor: Actor, fields: dict[str, Any]
    ) -> RequestRecord:
        step.seen[name] += 1
        if step.seen[name] > MAX_FIRINGS_PER_EVENT:
            message = f"recursion gate: {name} was fired again by its own flow; stopped"
            await self.calls.note(record, name, actor.email, message, error=True)
            raise Refused(message)
        rule_for("revoke" if name == "deescalate" and step.revoke else name, record.state,
                 record.request_id)  # fmt: skip
        try:
            if name in ("approve", "deny") and actor.by_person:
                await self.calls.check_decider(step, record, name, actor)
            directive = await self.calls.on(step, name, record, actor, fields)
        except Refused as refusal:
            await self.calls.note(record, name, actor.email, f"refused: {refusal}", error=False)
            raise
        if directive is not None:
            return await self._redirect(step, record, name, actor, fields, directive)
        record, done = await self._default_step(step, record, name, actor, fields)
        if not done:
            return record
        await self.calls.after(step, name, record, actor, fields)
        if name == "approve":
            try:
                record = await self._fire(step, record, "escalate", actor.fired_by_flow(), {})
            except (Refused, Conflict) as exc:
                await asyncio.to_thread(
                    self.journal.finish_timers, record.request_id, ("escalate",)
                )
                await self.calls.note(record, "escalate", None, f"not escalated: {exc}", error=True)
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
        if target not in REDIRECTABLE:
            message = f"on_{name} redirected to {target}, which an open request cannot take"
            await self.calls.note(record, name, actor.email, message, error=True)
            raise Refused(message)
        merged = {**fields, **directive["fields"]}
        return await self._fire(step, record, target, actor.fired_by_flow(), merged)

    async def _default_step(
        self, step: Step, record: RequestRecord, name: str, actor: Actor, fields: dict[str, Any]
    ) -> tuple[RequestRecord, bool]:
        now = time.time()
        entry = HistoryEntry(name, actor.email, now, _message(fields))
        call: HookCall | None = None
        if name in ("approve", "deny"):
            rule = rule_for(name, record.state, record.request_id)
            escalate_now = (("escalate", now),) if name == "approve" else ()
            change = Transition(
                rule.from_states, rule.to_state, entry, {"expires_at": None},
                cancel_timers=("expire",), add_timers=escalate_now,
            )  # fmt: skip
        elif name == "escalate":
            call = await self.calls.strategy(step, name, record, actor, fields)
            if call is not None and not call.ok:
                await asyncio.to_thread(
                    self.journal.finish_timers, record.request_id, ("escalate",)
                )
                message = (
                    f"{self.calls.step_label(step, name)} failed, access not granted: {call.error}"
                )
                log.error("escalation_failed", request_id=record.request_id, error=call.error)
                await self.calls.note(record, name, actor.email, message, error=True)
                return await self._read(record.request_id), False
            rule = rule_for(name, record.state, record.request_id)
            expires = now + record.duration_s
            change = Transition(
                rule.from_states, rule.to_state, entry,
                {"escalated_at": now, "expires_at": expires, "error": None,
                 **self._outputs(record, name, call)},
                cancel_timers=("escalate",), add_timers=(("deescalate", expires),),
            )  # fmt: skip
        else:
            call = await self.calls.strategy(step, name, record, actor, fields)
            never_granted = record.state == "approved"  # a revoke before escalation completed
            if call is not None and not call.ok and not never_granted:
                kind = "revoke" if step.revoke else "deescalate"
                await self._retry_deescalation(record, kind, step.attempt, str(call.error))
                return await self._read(record.request_id), False
            if never_granted:
                # Nothing was recorded as granted; the removal step ran once in case an
                # escalation got part of the way, and its failure does not hold the revoke.
                failed = f"; the removal step failed: {call.error}" if call and not call.ok else ""
                entry = entry._replace(message=f"revoked before access was granted{failed}")
            rule = rule_for("revoke" if step.revoke else name, record.state, record.request_id)
            change = Transition(
                rule.from_states, rule.to_state, entry._replace(event=rule.event),
                {"expires_at": None, "error": None, **self._outputs(record, name, call)},
                cancel_timers=("escalate", "deescalate", "revoke"),
            )  # fmt: skip
        if call is not None and call.output_error is not None:
            await self.calls.note(
                record, name, None, f"step output ignored: {call.output_error}", True
            )
        if not await asyncio.to_thread(self.journal.transition, record.request_id, change):
            current = await self._read(record.request_id)
            raise Conflict(f"request {record.request_id} is {current.state}; cannot {name}")
        self._transitioned(record, change.to_state)
        record = await self._read(record.request_id)
        await self.notifier.transitioned(record)
        return record, True

    @staticmethod
    def _outputs(record: RequestRecord, name: str, call: HookCall | None) -> dict[str, Any]:
        if call is None or not call.output:
            return {}
        return {"step_outputs": {**record.step_outputs, name: call.output}}

    async def _expire(self, record: RequestRecord) -> None:
        """Close a pending request nobody decided on in time. Its ``on_request_expire``
        and ``after_request_expire`` run, but nothing keeps it open: not a directive, not
        a failure, not a broken flow."""
        if record.state != "pending":  # decided meanwhile: the expiry is moot
            await asyncio.to_thread(self.journal.finish_timers, record.request_id, ("expire",))
            return
        actor = Actor(None, "timer")
        body = {"request_id": record.request_id, "timer": "expire"}
        closed = False
        try:
            async with self._step(record.flow, "flow.expire", body, removal=True) as step:
                await self.calls.on(step, "request_expire", record, actor, {})
                closed = await self._close_expired(record)
                if closed:
                    expired = await self._read(record.request_id)
                    await self.calls.after(step, "request_expire", expired, actor, {})
        except FlowEngineError as exc:
            if closed:
                raise
            await self.calls.note(
                record, "request_expire", None, f"expired without its hooks: {exc}", error=False
            )
            await self._close_expired(record)

    async def _close_expired(self, record: RequestRecord) -> bool:
        rule = rule_for("expire", "pending", record.request_id)
        entry = HistoryEntry("expire", None, time.time(), "request_timeout passed")
        change = Transition(rule.from_states, rule.to_state, entry, {"expires_at": None},
                            ("expire",))  # fmt: skip
        if not await asyncio.to_thread(self.journal.transition, record.request_id, change):
            await asyncio.to_thread(self.journal.finish_timers, record.request_id, ("expire",))
            return False
        self._transitioned(record, "expired")
        await self.notifier.transitioned(await self._read(record.request_id))
        return True

    async def _retry_deescalation(
        self, record: RequestRecord, kind: str, attempt: int, error: str
    ) -> None:
        """Access is still granted: try again with backoff, loudly, until it works."""
        delay = self.settings.retry.delay_before(attempt + 2)
        await asyncio.to_thread(
            self.journal.retry_timer, record.request_id, kind, time.time() + delay
        )
        self.timers_changed.set()
        message = f"deescalation failed, access still granted; retrying in {delay:g}s: {error}"
        log.error(
            "deescalation_failed",
            request_id=record.request_id,
            flow=record.flow,
            attempt=attempt + 1,
            retry_in_s=delay,
            error=error,
        )
        await self.calls.note(record, "deescalate", None, message, error=True)

    # --- plumbing ------------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def _lock(self, key: str) -> AsyncIterator[None]:
        """Hold ``key`` here, then in the journal for every host sharing it."""
        local = self._locks.get(key)
        if local is None:
            local = self._locks[key] = asyncio.Lock()
        async with local:
            while (held := await asyncio.to_thread(self.journal.try_lock, key)) is None:
                await asyncio.sleep(LOCK_POLL)
            try:
                yield
            finally:
                await asyncio.to_thread(held.release)

    @contextlib.asynccontextmanager
    async def _step(
        self, slug: str, kind: str, body: dict[str, Any], removal: bool = False
    ) -> AsyncIterator[Step]:
        """Pin a snapshot, find the served flow, and journal every process the step ran.

        With ``removal``, a broken flow still takes a step that closes (a deescalation, an
        expiry), without its hooks."""
        index = await asyncio.to_thread(self.repository.acquire)
        if index is None:
            raise NoSnapshot("no snapshot of the runbooks repository yet")
        try:
            try:
                flow = await self.catalog.served(index, slug)
            except FlowUnavailable as exc:
                if not removal:
                    raise
                log.warning("flow_unavailable_removing_access", flow=slug, error=str(exc))
                flow = self.catalog.degraded(index, slug)
            event_id = str(uuid.uuid4())
            runner = FlowRunner(
                self.settings.executor, self.runtime, index.snapshot.commit, event_id, self.channel
            )
            step = Step(flow, runner)
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
            raise NotFound(f"no request {request_id!r}")
        return record

    def _transitioned(self, record: RequestRecord, state: str) -> None:
        metrics.FLOW_TRANSITIONS.labels(flow=record.flow, to=state).inc()
        log.info("flow_transition", request_id=record.request_id, flow=record.flow, to=state)
        self.timers_changed.set()


__all__ = ["Engine", "FlowEngineError", "Opened", "SnapshotSource"]
