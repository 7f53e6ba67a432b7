"""Prometheus metrics of DESIGN §11, defined once and updated where things happen."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

RUNS = Counter(
    "hookrunner_runs_total", "Hook runs by final status of an attempt", ["hook", "status"]
)
RUN_DURATION = Histogram(
    "hookrunner_run_duration_seconds",
    "Wall time of one hook attempt",
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300),
)
RUN_CPU = Histogram(
    "hookrunner_run_cpu_seconds",
    "CPU time of one hook attempt, everything in its cgroup",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)
RUN_PEAK_MEMORY = Histogram(
    "hookrunner_run_peak_memory_bytes",
    "Peak memory of one hook attempt's cgroup (where the memory controller is available)",
    buckets=tuple(float(1 << n) for n in range(22, 33)),  # 4 MiB .. 4 GiB
)
QUEUE_DEPTH = Gauge("hookrunner_queue_depth", "Runs waiting in the journal")
GIT_SYNCS = Counter("hookrunner_git_sync_total", "Git syncs by result", ["result"])
GIT_SYNC_DURATION = Histogram("hookrunner_git_sync_duration_seconds", "Wall time of one git sync")
SNAPSHOT_AGE = Gauge("hookrunner_snapshot_age_seconds", "Seconds since the snapshot was confirmed")
FLOW_TRANSITIONS = Counter(
    "hookrunner_flow_transitions_total", "Access-request transitions", ["flow", "to"]
)
