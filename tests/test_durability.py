"""Claims under stress: no accepted event lost, git never blocks, bad input never a 5xx."""

from __future__ import annotations

import collections
import json
import re
import signal
import sys
import time
from pathlib import Path

from conftest import GitDaemon, WorkRepo, git, stalled_server
from daemon_harness import RunningDaemon, wait_for_run
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st


def test_kill_9_mid_burst_loses_no_accepted_event(tmp_path: Path, work_repo: WorkRepo) -> None:
    ledger = tmp_path / "ledger"
    slow_hook = (
        "import json, os, time\n"
        "time.sleep(0.4)\n"
        "sid = json.loads(os.environ['HOOP_RUNBOOK_HOOK_PAYLOAD'])['sid']\n"
        "with open(os.environ['LEDGER'], 'a') as f: f.write(sid + '\\n')\n"
    )
    work_repo.commit({"hoop-hooks/session-close.runbook.py": slow_hook})
    concurrency = 4
    daemon = RunningDaemon(
        tmp_path,
        str(work_repo.bare),
        executor={"max_concurrency": concurrency, "env": {"LEDGER": str(ledger)}},
    )
    daemon.start()
    sids = [f"burst-{n}" for n in range(30)]
    try:
        with daemon.client("events-token") as events:
            for sid in sids:
                answer = events.post("/v1/events/session-close", json={"sid": sid, "exit_code": 0})
                assert answer.status_code == 202
        deadline = time.monotonic() + 30
        while not ledger.exists() or len(ledger.read_text().split()) < concurrency:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        daemon.kill()  # mid-burst: some runs done, some running, most queued
        daemon.start()
        with daemon.client("read-token") as reader:
            deadline = time.monotonic() + 60
            while True:
                runs = reader.get("/v1/runs", params={"limit": 1000}).json()["runs"]
                if len(runs) == len(sids) and all(r["status"] == "succeeded" for r in runs):
                    break
                assert time.monotonic() < deadline, runs
                time.sleep(0.1)
        assert any(r["attempt"] > 1 for r in runs), "some run should have been interrupted"
    finally:
        daemon.stop()
    seen = collections.Counter(ledger.read_text().split())
    assert set(seen) == set(sids), "every accepted event ran at least once"
    duplicates = sum(count - 1 for count in seen.values())
    assert duplicates <= concurrency, (
        f"{duplicates} duplicates, at most {concurrency} were in flight"
    )


# The journal goes away just after a worker claimed a run, as a database outage can
# begin between two statements: the first read of the claimed run's event fails.
LOST_AFTER_CLAIM = """
from hookrunner.journal.records import JournalError
from hookrunner.journal.runs import RunsAndEvents
_read_event = RunsAndEvents.event
_failed = []
def _event(self, event_id):
    if not _failed:
        _failed.append(event_id)
        raise JournalError("connection to the database lost")
    return _read_event(self, event_id)
RunsAndEvents.event = _event
"""


def test_a_journal_outage_right_after_a_claim_retries_the_run(
    tmp_path: Path, work_repo: WorkRepo
) -> None:
    daemon = RunningDaemon(tmp_path, str(work_repo.bare))
    daemon.start(prelude=LOST_AFTER_CLAIM)
    try:
        with daemon.client("events-token") as events, daemon.client("read-token") as reader:
            answer = events.post(
                "/v1/events/session-open", json={"sid": "s", "connection_name": "c"}
            )
            run = wait_for_run(reader, answer.json()["run_ids"][0])
    finally:
        daemon.stop()
    assert (run["status"], run["attempt"]) == ("succeeded", 2), run


def test_git_server_down_events_still_served_within_refresh_wait(
    tmp_path: Path, git_daemon: GitDaemon, work_repo: WorkRepo
) -> None:
    refresh_wait = 1.0
    daemon = RunningDaemon(
        tmp_path, git_daemon.url("remote.git"), repo={"ttl": 0.2, "refresh_wait": refresh_wait}
    )
    daemon.start()
    good = git("rev-parse", "HEAD", cwd=work_repo.work)
    try:
        git_daemon.stop()
        work_repo.echo_hook(2)
        with daemon.client("events-token") as events:
            for n in range(5):
                started = time.monotonic()
                answer = events.post(
                    "/v1/events/session-open?wait=true",
                    json={"sid": f"d{n}", "connection_name": "c"},
                )
                elapsed = time.monotonic() - started
                (run,) = answer.json()["runs"]
                assert run["status"] == "succeeded" and run["commit"] == good
                assert elapsed < refresh_wait + run["duration_s"] + 1.5, elapsed
    finally:
        daemon.stop()


def test_stalled_git_server_makes_only_the_first_events_wait(
    tmp_path: Path, git_daemon: GitDaemon, work_repo: WorkRepo
) -> None:
    """A server that accepts and never answers: one fetch hangs, events stop waiting on it."""
    refresh_wait = 2.0
    daemon = RunningDaemon(
        tmp_path, git_daemon.url("remote.git"),
        repo={"ttl": 0.2, "refresh_wait": refresh_wait, "fetch_timeout": 300},
    )  # fmt: skip
    daemon.start()
    git_daemon.stop()
    try:
        with stalled_server(git_daemon.port) as held, daemon.client("events-token") as events:
            elapsed = []
            for n in range(5):
                started = time.monotonic()
                answer = events.post(
                    "/v1/events/session-open?wait=true",
                    json={"sid": f"s{n}", "connection_name": "c"},
                )
                elapsed.append(time.monotonic() - started)
                assert answer.json()["runs"][0]["status"] == "succeeded"
            assert held, "the daemon never reached the stalled server"
        assert all(seconds < refresh_wait + 1.5 for seconds in elapsed), elapsed
        assert sum(seconds >= refresh_wait for seconds in elapsed) <= 1, elapsed
    finally:
        daemon.stop()


def test_sighup_reloads_a_changed_url(tmp_path: Path, work_repo: WorkRepo) -> None:
    other = WorkRepo(tmp_path / "other")
    other_commit = other.echo_hook(7)
    daemon = RunningDaemon(tmp_path, str(work_repo.bare))
    daemon.start()
    try:
        text = daemon.config.read_text().replace(str(work_repo.bare), str(other.bare))
        daemon.config.write_text(text)
        assert daemon.process is not None
        daemon.process.send_signal(signal.SIGHUP)
        with daemon.client("admin-token") as admin:
            deadline = time.monotonic() + 20
            while admin.get("/v1/status").json()["commit"] != other_commit:
                assert time.monotonic() < deadline, daemon.log_text()
                time.sleep(0.05)
            answer = admin.post(
                "/v1/events/session-open?wait=true", json={"sid": "h", "connection_name": "c"}
            )
        assert json.loads(answer.json()["runs"][0]["stdout"])["version"] == 7
    finally:
        daemon.stop()


def test_daemon_restarts_on_its_last_good_snapshot_without_the_remote(
    tmp_path: Path, work_repo: WorkRepo
) -> None:
    daemon = RunningDaemon(tmp_path, str(work_repo.bare))
    daemon.start()
    daemon.terminate()
    work_repo.bare.rename(work_repo.bare.with_suffix(".gone"))
    daemon.start()  # READY=1 from the restored snapshot, remote or not
    try:
        with daemon.client("events-token") as events:
            answer = events.post(
                "/v1/events/session-open?wait=true", json={"sid": "r", "connection_name": "c"}
            )
        assert answer.json()["runs"][0]["status"] == "succeeded"
    finally:
        daemon.stop()


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=12,
)
session_like = st.fixed_dictionaries(
    {"sid": st.one_of(st.text(max_size=8), st.integers())},
    optional={
        "connection_name": json_values,
        "exit_code": json_values,
        "input": json_values,
        "connection_envs": json_values,
        "event_session_open": json_values,
    },
)
flow_like = st.fixed_dictionaries(
    {"user": st.one_of(st.fixed_dictionaries({"email": st.sampled_from(
        ["dev@example.com", "boss@example.com", "nobody", ""])}), json_values)},
    optional={"fields": json_values, "duration": json_values, "reason": json_values},
)  # fmt: skip
bodies = st.one_of(
    st.binary(max_size=300),
    json_values.map(lambda v: json.dumps(v).encode()),
    session_like.map(lambda v: json.dumps(v).encode()),
    flow_like.map(lambda v: json.dumps(v).encode()),
)
path_values = st.one_of(
    st.sampled_from(["fuzz", "..", "%2e%2e", "x%00y", "a" * 300]),
    st.from_regex(r"[A-Za-z0-9._~-]{1,20}", fullmatch=True),
)
FUZZ_FLOW = "from hookrunner.sdk import hook\n\n@hook\ndef on_request(event):\n    pass\n"


def test_fuzzed_api_from_openapi_never_answers_5xx(tmp_path: Path, work_repo: WorkRepo) -> None:
    """Every operation /openapi.json lists, with good and bad tokens, bodies and paths."""
    work_repo.commit({"flows/fuzz/impl.py": FUZZ_FLOW})
    daemon = RunningDaemon(tmp_path, str(work_repo.bare), executor={"interpreter": sys.executable})
    daemon.start()
    with daemon.client() as client:
        spec = client.get("/openapi.json").json()
    operations = sorted(
        (method.upper(), path) for path, item in spec["paths"].items() for method in item
    )
    assert ("POST", "/v1/flows/{slug}/requests") in operations
    assert ("POST", "/v1/requests/{request_id}/approve") in operations

    @settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
    @given(
        operation=st.sampled_from(operations),
        fill=path_values,
        body=bodies,
        token=st.sampled_from(["admin-token", "events-token", "flows-token", "read-token",
                               "wrong", ""]),
        headers=st.dictionaries(
            st.sampled_from(["webhook-id", "webhook-timestamp", "webhook-signature",
                             "x-hub-signature-256", "x-gitlab-token", "idempotency-key"]),
            st.from_regex(r"[!-~]{0,40}", fullmatch=True),  # what a client can send
            max_size=3,
        ),
    )  # fmt: skip
    def check(
        operation: tuple[str, str], fill: str, body: bytes, token: str, headers: dict[str, str]
    ) -> None:
        method, template = operation
        path = re.sub(r"\{[^}]+\}", fill, template)
        if method == "GET":
            path = f"{path}?state={fill}&status={fill}&limit={fill}"
        with daemon.client(token or None) as client:
            response = client.request(method, path, content=body, headers=headers)
        assert response.status_code < 500 or (path == "/v1/sync" and response.status_code == 502), (
            method,
            path,
            response.text,
        )
        if response.status_code >= 400:
            assert response.headers["content-type"] == "application/problem+json"

    try:
        check()
        with daemon.client() as client:
            assert client.get("/healthz").status_code == 200
        assert daemon.process is not None and daemon.process.poll() is None
    finally:
        daemon.stop()


def test_unknown_run_ids_and_states_from_the_cli(tmp_path: Path, work_repo: WorkRepo) -> None:
    import os
    import subprocess
    import sys

    daemon = RunningDaemon(tmp_path, str(work_repo.bare))
    daemon.start()
    env = {**os.environ, "HOOKRUNNER_TOKEN": "admin-token"}
    cli = [sys.executable, "-m", "hookrunner"]
    try:
        sent = subprocess.run(
            [*cli, "send", "session-open", "--config", str(daemon.config), "--sid", "c",
             "--connection", "pg", "--wait"],
            env=env, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert sent.returncode == 0, sent.stderr
        run_id = json.loads(sent.stdout)["run_ids"][0]
        listed = subprocess.run(
            [*cli, "runs", "--config", str(daemon.config)], env=env, capture_output=True, text=True
        )
        assert run_id in listed.stdout and "succeeded" in listed.stdout
        missing = subprocess.run(
            [*cli, "runs", "show", "nope", "--config", str(daemon.config)],
            env=env, capture_output=True, text=True,
        )  # fmt: skip
        assert missing.returncode == 2 and "HTTP 404" in missing.stderr
        with daemon.client() as client:
            assert wait_for_run(client, run_id)["status"] == "succeeded"
    finally:
        daemon.stop()
    gone = subprocess.run(
        [*cli, "status", "--config", str(daemon.config)], env=env, capture_output=True, text=True
    )
    assert gone.returncode == 3 and "unreachable" in gone.stderr
