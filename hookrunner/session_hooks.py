"""Turn a session event and a pinned snapshot into a run of the matching hook.

The daemon and ``dry-run`` both come through here, so a hook behaves the same in both.
"""

from __future__ import annotations

import time

from hookrunner.config import ExecutorSettings
from hookrunner.execution import (
    Limits,
    RunResult,
    RunSpec,
    WarmPolicy,
    hook_environment,
)
from hookrunner.hook_runtime import HookRuntime
from hookrunner.payloads import (
    PAYLOAD_ENV,
    PAYLOAD_FILE_ENV,
    PLAIN_EXEC,
    SessionEvent,
    build_payload,
    encode_for_env,
    full_json,
)
from hookrunner.repo import SESSION_HOOK_FILES, HookIndex


def limits_from(settings: ExecutorSettings) -> Limits:
    return Limits(settings.max_processes, settings.max_memory_bytes, settings.max_file_bytes)


def warm_policy(settings: ExecutorSettings) -> WarmPolicy | None:
    """How runs are forked in warm mode; ``None``: they are spawned."""
    if settings.mode != "warm":
        return None
    return WarmPolicy(settings.warm_max_forks, settings.warm_max_age)


def hook_name(kind: str) -> str:
    return SESSION_HOOK_FILES[kind].rsplit("/", 1)[-1]


def session_run_spec(
    event: SessionEvent,
    index: HookIndex,
    settings: ExecutorSettings,
    runtime: HookRuntime,
    run_id: str,
    attempt: int,
) -> RunSpec | None:
    """The process to start for ``event``, or ``None`` when the repo has no such hook."""
    path = index.hook_path(event.kind)
    if path is None:
        return None
    command = [settings.interpreter]
    payload = build_payload(
        event, command, path.read_text(errors="replace"), settings.pass_connection_envs
    )
    value, truncated = encode_for_env(payload)
    event_env = {
        PAYLOAD_ENV: value,
        "HOOKRUNNER_EVENT": event.kind,
        "HOOKRUNNER_RUN_ID": run_id,
        "HOOKRUNNER_COMMIT": index.snapshot.commit,
        "HOOKRUNNER_ATTEMPT": str(attempt),
    }
    return RunSpec(
        argv=[runtime.interpreter(path.parent, settings.interpreter), str(path)],
        cwd=path.parent,
        env=hook_environment(settings.env_passthrough, settings.env, event_env),
        timeout=settings.timeout,
        kill_grace=settings.kill_grace,
        max_output_bytes=settings.max_output_bytes,
        limits=limits_from(settings),
        user=settings.user,
        files={PAYLOAD_FILE_ENV: full_json(payload)} if truncated else {},
        warm=warm_policy(settings),
    )


async def run_session_hook(
    event: SessionEvent,
    index: HookIndex,
    settings: ExecutorSettings,
    runtime: HookRuntime,
    *,
    run_id: str,
    event_id: str,
    attempt: int,
) -> RunResult:
    """Run the hook for ``event`` on ``index``'s snapshot with ``runtime``'s isolation and
    environments; ``skipped`` when there is none."""
    name = hook_name(event.kind)
    commit = index.snapshot.commit
    refusal = index.refusal(SESSION_HOOK_FILES[event.kind])
    if refusal is not None:  # the symlink rule (DESIGN §3): never run, say which file
        return RunResult(
            run_id, event_id, name, commit, attempt, "failed", None, "",
            f"hookrunner: {refusal}", False, time.time(), 0.0,
        )  # fmt: skip
    why = f"hoop runs no session hook for a {PLAIN_EXEC} session" if event.hoop_skips else ""
    spec = None if why else session_run_spec(event, index, settings, runtime, run_id, attempt)
    if spec is None:
        return RunResult.skipped(
            run_id=run_id, event_id=event_id, hook=name, commit=commit, attempt=attempt, why=why
        )
    outcome = await runtime.execute(spec)
    return RunResult.from_outcome(
        outcome, run_id=run_id, event_id=event_id, hook=name, commit=commit, attempt=attempt
    )
