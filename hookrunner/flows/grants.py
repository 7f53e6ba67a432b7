"""Integration strategies (DESIGN §12): escalate and deescalate done by the daemon's own
clients, with no hook process and no credential outside the daemon.

* ``okta``: the requested target's ``settings.group_id`` names an Okta group; escalate
  adds the requester to it, deescalate removes them (Okta answers both the same whether
  or not anything changed, so a retried step is harmless).
* ``aws_lambda``: the target's ``settings.arn`` (else the integration's) names a function,
  invoked with a Sym-style event (``event.type`` is ``escalate`` or ``deescalate``); a
  function that raised or answered ``{"errors": [...]}`` failed the step, and a
  ``{"body": {...}}`` it answered is the step's output (``get_step_output``).

Each step is recorded as a run of the flow (``<slug>/okta:escalate``), like a runbook.
"""

from __future__ import annotations

import asyncio
import datetime
import time
import uuid
from collections.abc import Callable
from typing import Any, NamedTuple

import structlog

from hookrunner.execution import RunResult
from hookrunner.flows.definition import AccessTarget, FlowDefinition
from hookrunner.flows.fields import TARGET_FIELD
from hookrunner.integrations.aws_lambda import AWSLambdaClient
from hookrunner.integrations.errors import (
    AWSLambdaError,
    IntegrationError,
    SymIntegrationError,
)
from hookrunner.integrations.okta import OktaClient
from hookrunner.integrations.registry import Integrations
from hookrunner.journal import RequestRecord

log = structlog.get_logger("hookrunner.flows")

INTEGRATION_STRATEGIES = ("okta", "aws_lambda")
# What each strategy reads from a target's settings.
TARGET_SETTING = {"okta": "group_id", "aws_lambda": "arn"}


class StepOutcome(NamedTuple):
    """What the step did: its output, or why it failed."""

    output: dict[str, Any]
    error: str | None = None


def requested_target(definition: FlowDefinition, record: RequestRecord) -> AccessTarget:
    """The target the request names (its ``target`` field), or the flow's only target."""
    settings = definition.settings
    field = next((f.name for f in settings.fields if f.type == "target"), TARGET_FIELD)
    name = record.fields.get(field)
    if name is None and len(settings.targets) == 1:
        return settings.targets[0]
    for target in settings.targets:
        if target.name == name:
            return target
    raise SymIntegrationError(f"the request names no target of flow {definition.slug}")


def target_problem(definition: FlowDefinition) -> str | None:
    """Why an integration strategy cannot work with the flow's targets, if it cannot."""
    strategy = definition.settings.strategy
    key = TARGET_SETTING.get(strategy)
    if key is None:
        return None
    if not definition.settings.targets:
        return f"{definition.slug}: strategy = {strategy!r} needs [[targets]]"
    if strategy == "okta":
        for target in definition.settings.targets:
            if not isinstance(target.settings.get(key), str) or not target.settings[key]:
                return f"{definition.slug}: target {target.name!r} needs settings.{key}"
    return None


def _timestamp(at: float) -> str:
    return datetime.datetime.fromtimestamp(at, datetime.UTC).isoformat()


def lambda_event(
    definition: FlowDefinition, record: RequestRecord, step: str, target: AccessTarget
) -> dict[str, Any]:
    """The event a Sym ``aws_lambda`` strategy's function receives."""
    now = time.time()
    requester = {"username": record.requester, "email": record.requester}
    actors = {entry.event: entry.actor for entry in record.history if entry.actor}
    return {
        "type": "event",
        "event": {
            "srn": f"hookrunner:event:{definition.slug}:{step}",
            "type": step,
            "template": "sym:template:approval:1.0.0",
            "timestamp": _timestamp(now),
        },
        "run": {
            "srn": f"hookrunner:access_request:{record.flow}:latest:{record.request_id}",
            "flow": definition.slug,
            "actors": {event: {"username": who, "email": who} for event, who in actors.items()},
        },
        "fields": {**record.fields, "target": target.to_document()},
        "user": requester,
        "duration": record.duration_s,
    }


class IntegrationStrategies:
    """Runs ``strategy = "okta"`` and ``"aws_lambda"`` steps with the daemon's clients."""

    def __init__(self, integrations: Integrations | None) -> None:
        self.integrations = integrations

    async def run(
        self,
        definition: FlowDefinition,
        step: str,
        record: RequestRecord,
        commit: str,
        event_id: str,
    ) -> tuple[RunResult, StepOutcome]:
        """Do ``step`` (``escalate``/``deescalate``); never raises for the vendor's failure."""
        strategy = definition.settings.strategy
        started, clock = time.time(), time.monotonic()
        hook = f"{definition.slug}/{strategy}:{step}"
        try:
            work = self._step(definition, strategy, step, record)
            outcome = StepOutcome(await asyncio.to_thread(work))
        except IntegrationError as exc:
            outcome = StepOutcome({}, exc.message)
        except Exception:  # a bug fails the step (retried, loudly), never the API call
            log.exception("strategy_step_failed", hook=hook, request_id=record.request_id)
            outcome = StepOutcome({}, f"the {strategy} strategy's {step} failed unexpectedly")
        result = RunResult(
            run_id=str(uuid.uuid4()),
            event_id=event_id,
            hook=hook,
            commit=commit,
            attempt=1,
            status="failed" if outcome.error else "succeeded",
            exit_code=None,
            stdout="",
            stderr=outcome.error or "",
            truncated=False,
            started_at=started,
            duration_s=round(time.monotonic() - clock, 6),
        )
        return result, outcome

    def _step(
        self, definition: FlowDefinition, strategy: str, step: str, record: RequestRecord
    ) -> Callable[[], dict[str, Any]]:
        if self.integrations is None:
            raise SymIntegrationError(f"strategy = {strategy!r} needs [integrations.*] configured")
        table = self.integrations.table_for(strategy, definition.settings.integrations)
        client = self.integrations.client(table)
        target = requested_target(definition, record)
        if isinstance(client, OktaClient):
            return lambda: _okta(client, step, record.requester, target)
        if isinstance(client, AWSLambdaClient):
            arn = str(target.settings.get("arn") or client.settings.settings.get("arn") or "")
            if not arn:
                raise SymIntegrationError(
                    f"target {target.name!r} has no settings.arn, nor [integrations.{table}]"
                )
            event = lambda_event(definition, record, step, target)
            return lambda: _invoke(client, arn, event)
        raise SymIntegrationError(f"[integrations.{table}] is not a {strategy} integration")


def _okta(client: OktaClient, step: str, requester: str, target: AccessTarget) -> dict[str, Any]:
    group_id = str(target.settings["group_id"])
    if step == "escalate":
        client.add_user_to_group(requester, group_id)
    else:
        client.remove_user_from_group(requester, group_id)
    return {"group_id": group_id, "user": requester}


def _invoke(client: AWSLambdaClient, arn: str, event: dict[str, Any]) -> dict[str, Any]:
    answer = client.invoke(arn, event)
    if isinstance(answer, dict) and answer.get("errors"):
        raise AWSLambdaError(f"{arn} answered errors: {answer['errors']}", code="errors")
    body = answer.get("body") if isinstance(answer, dict) else None
    return body if isinstance(body, dict) else {}
