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
HOOK_STARTS = Counter(
    "hookrunner_hook_starts_total",
    "Hook processes started, by how: forked from a warm interpreter or spawned",
    ["mode"],
)
QUEUE_DEPTH = Gauge("hookrunner_queue_depth", "Runs waiting in the journal")
GIT_SYNCS = Counter("hookrunner_git_sync_total", "Git syncs by result", ["result"])
GIT_SYNC_DURATION = Histogram("hookrunner_git_sync_duration_seconds", "Wall time of one git sync")
SNAPSHOT_AGE = Gauge("hookrunner_snapshot_age_seconds", "Seconds since the snapshot was confirmed")
FLOW_TRANSITIONS = Counter(
    "hookrunner_flow_transitions_total", "Access-request transitions", ["flow", "to"]
)
SLACK_MESSAGES = Counter(
    "hookrunner_slack_messages_total",
    "Slack approval messages: posted, updated, retried (Slack down or refusing), given_up",
    ["result"],
)
ENVIRONMENT_BUILDS = Counter(
    "hookrunner_environment_builds_total", "Hook environment builds by result", ["result"]
)
ENVIRONMENT_BUILD_DURATION = Histogram(
    "hookrunner_environment_build_duration_seconds",
    "Wall time of one hook environment build",
    buckets=(1, 2.5, 5, 10, 30, 60, 120, 300, 600),
)
CONNECTIONS_REFUSED = Counter(
    "hookrunner_http_connections_refused_total", "Connections closed at once: too many open"
)
CONNECTIONS_TIMED_OUT = Counter(
    "hookrunner_http_connections_idle_closed_total",
    "Connections closed for sending no complete request within server.idle_timeout",
)
LOG_LINES_SUPPRESSED = Counter(
    "hookrunner_log_lines_suppressed_total", "Repeated warning and error lines not written"
)
