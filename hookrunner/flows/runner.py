"""Run a flow's hooks, reducers, strategy and runbooks through the one executor.

A hook, reducer, prefetch, strategy step or ``describe`` runs as
``<interpreter> harness.py impl.py <name>``; a runbook as ``<interpreter> <runbook>``.
All get the event as JSON in ``HOOKRUNNER_FLOW_EVENT``, with the flow's directory as
working directory and the same environment rules, limits and timeout as session hooks.
The harness's answer and a step's output come back through private files, read with
a size bound and checked (:mod:`hookrunner.flows.answers`).
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any, NamedTuple

from hookrunner.config import ExecutorSettings
from hookrunner.execution import RunResult, RunSpec, hook_environment
from hookrunner.flows import answers
from hookrunner.flows.definition import FlowDefinition
from hookrunner.flows.errors import Invalid, MalformedAnswer
from hookrunner.flows.harness import EVENT_ENV, RESULT_ENV
from hookrunner.hook_runtime import HookRuntime
from hookrunner.integrations.channel import ChannelServer, RunContext
from hookrunner.integrations.channel_client import TOKEN_ENV
from hookrunner.session_hooks import limits_from, warm_policy

HARNESS = Path(__file__).with_name("harness.py")
STEP_OUTPUT_ENV = "HOOKRUNNER_STEP_OUTPUT"
# The event travels in one environment variable, which Linux caps at 128 KiB.
MAX_EVENT_BYTES = 128 * 1024 - 1
# A result or step output larger than this is the hook's failure, never read whole.
MAX_ANSWER_BYTES = 1 << 20


class EventTooLarge(Invalid):
    """The event document would not fit in ``HOOKRUNNER_FLOW_EVENT``."""


class HookCall(NamedTuple):
    """What one process did, what it answered, and what a step wrote as its output."""

    result: RunResult
    value: Any
    error: str | None
    output: dict[str, Any] = {}
    output_error: str | None = None  # the step ran, but what it wrote was unusable

    @property
    def ok(self) -> bool:
        return self.error is None


def _failure(result: RunResult, answer: dict[str, Any]) -> str:
    """Why a process gave no value: its own error, a timeout, or its last stderr line."""
    if isinstance(answer.get("error"), str) and answer["error"]:
        return str(answer["error"])[:4096]
    if result.status == "timed_out":
        return "timed out"
    last_line = result.stderr.strip().rsplit("\n", 1)[-1]
    return last_line[:4096] or f"{result.status} (exit {result.exit_code})"


def _answer(result: RunResult, name: str, raw: bytes | None) -> tuple[Any, str | None]:
    """The hook's checked value, or why there is none (the result file wins over stderr)."""
    try:
        answer = answers.parse_result(raw, MAX_ANSWER_BYTES) if raw else {}
        if result.status == "succeeded" and answer.get("ok") is True:
            return answers.shape_of(name)(answer.get("value"), name), None
    except MalformedAnswer as exc:
        return None, str(exc)
    return None, _failure(result, answer)


class FlowRunner:
    """Runs one flow's processes; knows the executor settings, the runtime (isolation and
    environments) they run with, the snapshot commit and the integration channel each
    process gets its own token for (``None``: no channel)."""

    def __init__(
        self,
        settings: ExecutorSettings,
        runtime: HookRuntime,
        commit: str,
        event_id: str,
        channel: ChannelServer | None = None,
    ) -> None:
        self.settings = settings
        self.runtime = runtime
        self.commit = commit
        self.event_id = event_id
        self.channel = channel

    async def hook(
        self, flow: FlowDefinition, name: str, event: dict[str, Any], request_id: str
    ) -> HookCall:
        """Call ``name`` of ``impl.py`` through the harness: a hook, a reducer,
        ``prefetch:<field>``, ``strategy:<step>`` or ``describe``."""
        step = name.startswith("strategy:")
        argv = [str(HARNESS), str(flow.impl), name]
        return await self._run(flow, name, argv, event, request_id, harness=True, step=step)

    async def runbook(
        self, flow: FlowDefinition, path: Path, event: dict[str, Any], request_id: str
    ) -> HookCall:
        """Run an escalate or deescalate runbook, collecting its step output."""
        argv = [str(path)]
        return await self._run(flow, path.name, argv, event, request_id, harness=False, step=True)

    async def _run(
        self,
        flow: FlowDefinition,
        name: str,
        argv: list[str],
        event: dict[str, Any],
        request_id: str,
        harness: bool,
        step: bool,
    ) -> HookCall:
        document = json.dumps(event, default=str)
        if len(document.encode()) > MAX_EVENT_BYTES:
            raise EventTooLarge(f"the {event.get('name')} event exceeds {MAX_EVENT_BYTES} bytes")
        run_id = str(uuid.uuid4())
        event_env = {
            EVENT_ENV: document,
            "HOOKRUNNER_FLOW": flow.slug,
            "HOOKRUNNER_REQUEST_ID": request_id,
            "HOOKRUNNER_EVENT": str(event.get("name")),
            "HOOKRUNNER_RUN_ID": run_id,
            "HOOKRUNNER_COMMIT": self.commit,
        }
        channel_env = self._open_channel(flow, run_id, event)
        event_env.update(channel_env)
        files = {RESULT_ENV: b""} if harness else {}
        if step:
            files[STEP_OUTPUT_ENV] = b""
        spec = RunSpec(
            argv=[self.runtime.interpreter(flow.directory, self.settings.interpreter), *argv],
            cwd=flow.directory,
            env=hook_environment(self.settings.env_passthrough, self.settings.env, event_env),
            timeout=self.settings.timeout,
            kill_grace=self.settings.kill_grace,
            max_output_bytes=self.settings.max_output_bytes,
            limits=limits_from(self.settings),
            user=self.settings.user,
            files=files,
            collect=tuple(files),
            collect_limit=MAX_ANSWER_BYTES,
            warm=warm_policy(self.settings),
        )
        try:
            outcome = await self.runtime.execute(spec)
        finally:  # the token dies with the run, however it ended
            if self.channel is not None:
                self.channel.close_run(channel_env[TOKEN_ENV])
        result = RunResult.from_outcome(
            outcome, run_id=run_id, event_id=self.event_id, hook=f"{flow.slug}/{name}",
            commit=self.commit, attempt=1,
        )  # fmt: skip
        if harness:
            value, error = _answer(result, name, outcome.collected.get(RESULT_ENV))
        else:
            value, error = None, None if result.status == "succeeded" else _failure(result, {})
        if not step or error is not None:
            return HookCall(result, value, error)
        try:
            output = answers.step_output(outcome.collected.get(STEP_OUTPUT_ENV), MAX_ANSWER_BYTES)
        except MalformedAnswer as exc:
            return HookCall(result, value, error, {}, str(exc))
        return HookCall(result, value, error, output)

    def _open_channel(
        self, flow: FlowDefinition, run_id: str, event: dict[str, Any]
    ) -> dict[str, str]:
        """The run's channel variables, reaching only the integrations the flow lists."""
        if self.channel is None:
            return {}
        request = event.get("request") or {}
        # Before a request exists (prompt, prefetch), whoever opens the form asks.
        person = request.get("requester") or event.get("user") or {}
        requester = person.get("email") or ""
        tables = frozenset(flow.settings.integrations)
        return self.channel.open_run(RunContext(run_id, tables, str(requester)))
