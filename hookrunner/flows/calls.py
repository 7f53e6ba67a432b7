"""What one step of the engine runs in hook processes, and what their answers decide.

The engine walks the state machine; this runs a step's ``on_`` / ``after_`` hooks, its
reducers (who may decide, notifications, prefetch options) and its strategy, and turns
each answer into a directive, a refusal or a set of deciders. Every failure closes:
a failed ``on_`` hook blocks its event, a failed reducer lets nobody approve, and only
``on_deescalate`` and ``on_request_expire`` are overruled, because removing access and
closing an undecided request are never blocked.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import structlog

from hookrunner.config import SettingsView
from hookrunner.execution import RunResult
from hookrunner.flows import permissions
from hookrunner.flows.catalog import ServedFlow
from hookrunner.flows.definition import DEESCALATE_RUNBOOK, ESCALATE_RUNBOOK
from hookrunner.flows.errors import Invalid, NotFound, Refused
from hookrunner.flows.events import Actor, event_document
from hookrunner.flows.grants import INTEGRATION_STRATEGIES, IntegrationStrategies
from hookrunner.flows.runner import FlowRunner, HookCall
from hookrunner.integrations.errors import IntegrationError
from hookrunner.integrations.registry import Integrations
from hookrunner.integrations.slack import SlackClient
from hookrunner.journal import HistoryEntry, Journal, RequestRecord

log = structlog.get_logger("hookrunner.flows")

# Events no ``on_`` hook can stop, and why: removing access, and closing a request
# nobody decided on in time.
ALWAYS_PROCEEDS = {
    "deescalate": "deescalation always proceeds",
    "request_expire": "an expired request always closes",
}


@dataclass
class Step:
    """One walk through the state machine, on one snapshot of one flow."""

    flow: ServedFlow
    runner: FlowRunner
    results: list[RunResult] = field(default_factory=list)
    seen: Counter[str] = field(default_factory=Counter)
    revoke: bool = False  # a deescalation somebody asked for, rather than the timer's
    attempt: int = 0  # how often the timer driving this step has already been retried


class Calls:
    """Runs the hook processes of the engine's steps."""

    def __init__(
        self,
        journal: Journal,
        settings: SettingsView,
        run_runbooks: bool,
        integrations: Integrations | None = None,
    ) -> None:
        self.journal = journal
        self.settings = settings
        self.integrations = integrations
        self.grants = IntegrationStrategies(integrations)
        # dry-run of approve must not grant access: it reports the runbook instead.
        self.run_runbooks = run_runbooks

    @property
    def roles(self) -> permissions.Roles:
        """``[roles]`` as in force now, so a reload reaches the next decision."""
        return permissions.Roles(self.settings.roles)

    async def note(
        self, record: RequestRecord, event: str, actor: str | None, message: str, error: bool
    ) -> None:
        """Audit what changed no state (a refusal, a failure); ``error`` shows on the request."""
        entry = HistoryEntry(event, actor, time.time(), message)
        await asyncio.to_thread(
            self.journal.note, record.request_id, entry, message if error else None
        )

    async def on(
        self,
        step: Step,
        name: str,
        record: RequestRecord | None,
        actor: Actor,
        fields: dict[str, Any],
    ) -> dict[str, Any] | None:
        """``on_<name>``'s directive; a failure blocks the event (fail closed), except for
        the events of ``ALWAYS_PROCEEDS``: whatever their hook does, they go on."""
        hook = f"on_{name}"
        call = await self.call(step, hook, name, record, actor, fields)
        if call is None:
            return None
        if name in ALWAYS_PROCEEDS and record is not None:
            await self._overrule(record, name, call)
            return None
        if not call.ok:
            raise Refused(f"{hook} failed, so the {name} is blocked: {call.error}")
        directive: dict[str, Any] | None = call.value
        if directive is None:
            return None
        if directive["directive"] == "ignore":
            raise Refused(directive["message"] or f"{hook} ignored the {name}")
        if name == "prompt":  # on_prompt can only refuse
            return None
        return directive

    async def _overrule(self, record: RequestRecord, name: str, call: HookCall) -> None:
        """An ``on_`` hook of an event that always proceeds: its failure or directive is
        recorded, never obeyed."""
        hook = f"on_{name}"
        if not call.ok:
            log.warning("hook_failed", hook=hook, request_id=record.request_id, error=call.error)
            await self.note(record, name, None, f"{hook} failed: {call.error}", True)
        elif call.value is not None:
            returned = call.value["directive"]
            log.warning("directive_overruled", hook=hook, request_id=record.request_id,
                        directive=returned)  # fmt: skip
            message = f"{hook} returned {returned}; ignored, {ALWAYS_PROCEEDS[name]}"
            await self.note(record, name, None, message, error=False)

    async def after(
        self,
        step: Step,
        name: str,
        record: RequestRecord | None,
        actor: Actor,
        fields: dict[str, Any],
    ) -> None:
        hook = f"after_{name}"
        call = await self.call(step, hook, name, record, actor, fields)
        if call is not None and not call.ok:
            log.warning("hook_failed", hook=hook, error=call.error)

    async def call(
        self,
        step: Step,
        hook: str,
        name: str,
        record: RequestRecord | None,
        actor: Actor,
        fields: dict[str, Any],
    ) -> HookCall | None:
        """Run ``hook`` (a hook, reducer or prefetch); ``None`` when the flow lacks it."""
        if not step.flow.defines(hook) and not hook.startswith("prefetch:"):
            return None
        return await self._run_harness(step, hook, name, record, actor, fields)

    async def _run_harness(
        self,
        step: Step,
        target: str,
        name: str,
        record: RequestRecord | None,
        actor: Actor,
        fields: dict[str, Any],
    ) -> HookCall:
        event = self._event(step, name, record, actor, fields)
        request_id = record.request_id if record is not None else ""
        call = await step.runner.hook(step.flow.definition, target, event, request_id)
        step.results.append(call.result)
        return call

    def _event(
        self,
        step: Step,
        name: str,
        record: RequestRecord | None,
        actor: Actor,
        fields: dict[str, Any],
    ) -> dict[str, Any]:
        view = step.flow.view
        return event_document(name, view, record, actor, fields, time.time(), self.roles.role_of)

    @staticmethod
    def step_label(step: Step, name: str) -> str:
        strategy = step.flow.definition.settings.strategy
        if strategy != "runbook":
            return f"the {strategy} strategy's {name}"
        return ESCALATE_RUNBOOK if name == "escalate" else DEESCALATE_RUNBOOK

    async def strategy(
        self, step: Step, name: str, record: RequestRecord, actor: Actor, fields: dict[str, Any]
    ) -> HookCall | None:
        """Grant or remove access: the flow's runbook, its ``AccessStrategy``, or an
        integration strategy run by the daemon."""
        definition = step.flow.definition
        if definition.settings.strategy in INTEGRATION_STRATEGIES:
            return await self._grant(step, name, record)
        # A custom strategy always runs: on a broken flow its failure is retried, loudly;
        # access is never marked removed without the step that removes it.
        custom = definition.settings.strategy == "custom"
        path = None if custom else definition.runbook(self.step_label(step, name))
        if not custom and path is None:
            return None
        if not self.run_runbooks:
            log.warning("runbook_not_run", step=name, reason="dry-run")
            return None
        event = self._event(step, name, record, actor, fields)
        if custom:
            call = await step.runner.hook(definition, f"strategy:{name}", event, record.request_id)
        else:
            assert path is not None
            call = await step.runner.runbook(definition, path, event, record.request_id)
        step.results.append(call.result)
        return call

    async def _grant(self, step: Step, name: str, record: RequestRecord) -> HookCall | None:
        if not self.run_runbooks:
            log.warning("strategy_not_run", step=name, reason="dry-run")
            return None
        runner = step.runner
        result, outcome = await self.grants.run(
            step.flow.definition, name, record, runner.commit, runner.event_id
        )
        step.results.append(result)
        return HookCall(result, None, outcome.error, outcome.output)

    async def notify(
        self, step: Step, record: RequestRecord, actor: Actor, delivered: bool
    ) -> list[dict[str, Any]]:
        """Where a new request is announced: ``get_request_notifications``, and a
        ``get_approvers`` destination when Slack delivers (its people may approve there).

        Recorded in the history and logged; ``delivered`` says whether anything will post
        them. A failing reducer is recorded and announces nothing."""
        notified = await self._notifications(step, record, actor)
        approvers = await self._approvers_destination(step, record, actor) if delivered else []
        if notified is None and not approvers:
            return []
        destinations = (notified or []) + approvers
        shown = ", ".join(_destination_name(d) for d in destinations) or "nowhere"
        log.info("request_notifications", request_id=record.request_id, destinations=shown,
                 delivered=delivered)  # fmt: skip
        how = "delivering through Slack" if delivered else "not delivered: no Slack delivery"
        await self.note(record, "notify", None, f"to be announced in {shown} ({how})", False)
        return destinations

    async def _notifications(
        self, step: Step, record: RequestRecord, actor: Actor
    ) -> list[dict[str, Any]] | None:
        """``get_request_notifications``' destinations; ``None`` when it is not defined or
        failed (the failure recorded)."""
        call = await self.call(step, "get_request_notifications", "request", record, actor, {})
        if call is None:
            return None
        if not call.ok:
            message = f"get_request_notifications failed: {call.error}"
            log.warning("notifications_failed", request_id=record.request_id, error=call.error)
            await self.note(record, "notify", None, message, error=False)
            return None
        return [d for n in call.value for d in n["destinations"]]

    async def _approvers_destination(
        self, step: Step, record: RequestRecord, actor: Actor
    ) -> list[dict[str, Any]]:
        """The destination ``get_approvers`` names, when it is the flow's approver rule."""
        if step.flow.defines("get_permissions"):
            return []
        call = await self.call(step, "get_approvers", "request", record, actor, {})
        if call is None or not call.ok or "destination" not in call.value:
            return []
        return [call.value["destination"]]

    async def options(self, step: Step, name: str, actor: Actor) -> list[dict[str, Any]]:
        if name not in step.flow.described.prefetch:
            raise NotFound(f"flow {step.flow.slug} has no @prefetch field {name!r}")
        call = await self.call(step, f"prefetch:{name}", "prompt", None, actor, {})
        assert call is not None
        if not call.ok:
            raise Refused(f"the @prefetch reducer of {name} failed: {call.error}")
        options: list[dict[str, Any]] = call.value
        return options

    async def check_prefetched(self, step: Step, fields: dict[str, Any], actor: Actor) -> None:
        """A submitted value of a prefetch field must be one of its options."""
        for name in sorted(step.flow.described.prefetch & set(fields)):
            values = [option["value"] for option in await self.options(step, name, actor)]
            if fields[name] not in values:
                raise Invalid(f"fields.{name}: {fields[name]!r} is not one of its options")

    async def _deciders(
        self, step: Step, record: RequestRecord, name: str, actor: Actor
    ) -> permissions.Deciders:
        """Who may approve or deny: ``get_permissions``, else ``get_approvers``, else
        ``flow.toml``, else anyone but the requester. A failed reducer: nobody."""
        flow = step.flow
        settings = flow.definition.settings
        for reducer in ("get_permissions", "get_approvers"):
            call = await self.call(step, reducer, name, record, actor, {})
            if call is None:
                continue
            if not call.ok:
                return permissions.nobody(f"{reducer} failed, so nobody may approve: {call.error}")
            if reducer == "get_permissions":
                return permissions.from_permissions(call.value, self.roles)
            slack = permissions.has_slack(settings.integrations, self.settings.integrations)
            resolution = None
            if slack and "destination" in call.value:
                resolution = await self._resolve(step, call.value["destination"], record)
            return permissions.from_approvers(
                call.value, settings.allow_self_approval, slack, resolution, record.requester
            )
        return permissions.from_settings(settings.approvers, settings.allow_self_approval)

    async def _resolve(
        self, step: Step, destination: dict[str, Any], record: RequestRecord
    ) -> permissions.Resolution:
        """The people a ``get_approvers`` destination reaches, asked of Slack now (reads
        are cached briefly); a failure leaves it unresolved: nobody may approve."""
        if self.integrations is None:
            return permissions.Resolution(None, "the integrations are not running")
        listed = step.flow.definition.settings.integrations
        try:
            table = self.integrations.table_for("slack", listed)
            client = self.integrations.client(table)
            if not isinstance(client, SlackClient):
                return permissions.Resolution(None, f"[integrations.{table}] is not Slack")
            people = await asyncio.to_thread(
                client.resolve_destination, destination, record.requester
            )
        except IntegrationError as exc:
            log.warning("destination_unresolved", request_id=record.request_id, error=exc.message)
            return permissions.Resolution(None, exc.message)
        return permissions.Resolution(tuple(people))

    async def check_decider(
        self, step: Step, record: RequestRecord, name: str, actor: Actor
    ) -> None:
        email = actor.email or ""
        if name == "deny" and email == record.requester:
            return  # a requester may always withdraw their own pending request
        deciders = await self._deciders(step, record, name, actor)
        deciders.check(email, record.requester, step.flow.slug)

    async def check_revoker(self, step: Step, record: RequestRecord, actor: Actor) -> None:
        email = actor.email or ""
        if not step.flow.definition.settings.allow_revoke:
            refusal = f"flow {step.flow.slug} does not allow revoking (allow_revoke = false)"
        elif email == record.requester or (
            await self._deciders(step, record, "deescalate", actor)
        ).admits(email):
            return
        else:
            refusal = f"{email} may not revoke: neither the requester nor an approver"
        await self.note(record, "revoke", email, f"refused: {refusal}", False)
        raise Refused(refusal)


def _destination_name(destination: dict[str, Any]) -> str:
    if destination.get("type") == "fallback":
        return " or ".join(_destination_name(d) for d in destination["destinations"])
    if isinstance(destination.get("users"), list):  # a group direct message
        members = ", ".join(
            _destination_name(d) for d in destination["users"] if isinstance(d, dict)
        )
        return f"{destination['type']} ({members})"
    label = next(
        (str(destination[key]) for key in ("name", "handle", "email", "id") if key in destination),
        "?",
    )
    return f"{destination['type']} {label}"
