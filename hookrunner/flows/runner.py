"""Run a flow's hooks, reducers and runbooks through the one executor.

A hook or reducer runs as ``<interpreter> harness.py impl.py <name>``; a runbook as
``<interpreter> <runbook>``. Both get the event as JSON in ``HOOKRUNNER_FLOW_EVENT``,
with the flow's directory as working directory and the same environment rules,
limits and timeout as session hooks.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any, NamedTuple

from hookrunner.config import ExecutorSettings
from hookrunner.environments import interpreter_for
from hookrunner.execution import RunResult, RunSpec, execute, hook_environment
from hookrunner.flows.definition import FlowDefinition
from hookrunner.flows.harness import EVENT_ENV, RESULT_ENV
from hookrunner.session_hooks import limits_from, warm_policy

HARNESS = Path(__file__).with_name("harness.py")
# The event travels in one environment variable, which Linux caps at 128 KiB.
MAX_EVENT_BYTES = 128 * 1024 - 1


class EventTooLarge(ValueError):
    """The event document would not fit in ``HOOKRUNNER_FLOW_EVENT``."""


class HookCall(NamedTuple):
    """What one hook, reducer or runbook process did, and what it answered."""

    result: RunResult
    value: Any
    error: str | None

    @property
    def ok(self) -> bool:
        return self.error is None


def _answer(result: RunResult, raw: bytes | None) -> tuple[Any, str | None]:
    """The hook's value, or why there is none (the result file wins over stderr)."""
    answer: dict[str, Any] = {}
    if raw:
        try:
            answer = json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError):
            return None, "the harness wrote an unreadable result"
    if result.status == "succeeded" and answer.get("ok"):
        return answer.get("value"), None
    if answer.get("error"):
        return None, str(answer["error"])
    if result.status == "timed_out":
        return None, "timed out"
    last_line = result.stderr.strip().rsplit("\n", 1)[-1]
    return None, last_line or f"{result.status} (exit {result.exit_code})"


class FlowRunner:
    """Runs one flow's processes; knows the executor settings and the snapshot commit."""

    def __init__(self, settings: ExecutorSettings, commit: str, event_id: str) -> None:
        self.settings = settings
        self.commit = commit
        self.event_id = event_id

    async def hook(
        self, flow: FlowDefinition, name: str, event: dict[str, Any], request_id: str
    ) -> HookCall:
        """Call hook or reducer ``name`` of ``impl.py``."""
        argv = [str(HARNESS), str(flow.impl), name]
        return await self._run(flow, name, argv, event, request_id, collect=True)

    async def runbook(
        self, flow: FlowDefinition, path: Path, event: dict[str, Any], request_id: str
    ) -> HookCall:
        return await self._run(flow, path.name, [str(path)], event, request_id, collect=False)

    async def _run(
        self,
        flow: FlowDefinition,
        hook: str,
        argv: list[str],
        event: dict[str, Any],
        request_id: str,
        collect: bool,
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
        spec = RunSpec(
            argv=[interpreter_for(flow.directory, self.settings.interpreter), *argv],
            cwd=flow.directory,
            env=hook_environment(self.settings.env_passthrough, self.settings.env, event_env),
            timeout=self.settings.timeout,
            kill_grace=self.settings.kill_grace,
            max_output_bytes=self.settings.max_output_bytes,
            limits=limits_from(self.settings),
            user=self.settings.user,
            files={RESULT_ENV: b""} if collect else {},
            collect=(RESULT_ENV,) if collect else (),
            warm=warm_policy(self.settings),
        )
        outcome = await execute(spec)
        hook_label = f"{flow.slug}/{hook}"
        result = RunResult.from_outcome(
            outcome, run_id=run_id, event_id=self.event_id, hook=hook_label,
            commit=self.commit, attempt=1,
        )  # fmt: skip
        if not collect:
            error = None if result.status == "succeeded" else _answer(result, None)[1]
            return HookCall(result, None, error)
        value, error = _answer(result, outcome.collected.get(RESULT_ENV))
        return HookCall(result, value, error)
