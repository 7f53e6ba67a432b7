"""Every finished hook process is reported the same way: one log event and the run metrics.

Session runs (the dispatcher) and flow runs (the engine) both come through here, so the
``run`` log line and ``hookrunner_runs_total`` mean the same thing for either family.
"""

from __future__ import annotations

from typing import Any

import structlog

from hookrunner import metrics
from hookrunner.execution import RunResult

log = structlog.get_logger("hookrunner.runs")


def report_run(result: RunResult, **fields: Any) -> None:
    """Count and log one attempt; ``fields`` add to or override the log line."""
    metrics.RUNS.labels(hook=result.hook, status=result.status).inc()
    metrics.RUN_DURATION.observe(result.duration_s)
    if result.cpu_s is not None:
        metrics.RUN_CPU.observe(result.cpu_s)
    if result.peak_memory_bytes is not None:
        metrics.RUN_PEAK_MEMORY.observe(result.peak_memory_bytes)
    line = {
        "run_id": result.run_id,
        "event_id": result.event_id,
        "commit": result.commit,
        "hook": result.hook,
        "status": result.status,
        "attempt": result.attempt,
        "exit_code": result.exit_code,
        "duration_s": result.duration_s,
        "cpu_s": result.cpu_s,
        "peak_memory_bytes": result.peak_memory_bytes,
    }
    log.info("run", **(line | fields))
