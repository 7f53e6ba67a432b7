"""``hookrunner dry-run`` and ``validate`` as an author runs them: a real process."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from conftest import WorkRepo, free_port
from daemon_harness import RunningDaemon, wait_for_run

from hookrunner import render, systemd

HOOKRUNNER = [sys.executable, "-m", "hookrunner"]
Completed = subprocess.CompletedProcess[str]


def run(
    *args: str, cwd: Path | None = None, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOOKRUNNER_")}
    return subprocess.run(
        [*HOOKRUNNER, *args],
        cwd=cwd,
        input=stdin,
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )


def test_dry_run_on_a_dirty_working_tree(work_repo: WorkRepo) -> None:
    source = "import os\nprint('uncommitted', os.environ['HOOKRUNNER_COMMIT'])\n"
    work_repo.write({"hoop-hooks/session-open.runbook.py": source})
    result = run("dry-run", "session-open", "--repo", str(work_repo.work), "--json")
    assert result.returncode == 0, result.stderr
    record = json.loads(result.stdout)
    assert record["status"] == "succeeded"
    assert record["stdout"].startswith("uncommitted ")
    assert record["commit"].endswith("-dirty")
    assert set(record) == {
        "run_id", "event_id", "hook", "commit", "attempt", "status", "exit_code",
        "stdout", "stderr", "truncated", "started_at", "duration_s", "peak_memory_bytes",
        "cpu_s",
    }  # fmt: skip


def test_dry_run_leaves_no_bytecode_in_the_authors_tree(work_repo: WorkRepo) -> None:
    work_repo.write(
        {
            "hoop-hooks/helper.py": "GREETING = 'hi'\n",
            "hoop-hooks/session-open.runbook.py": "from helper import GREETING\nprint(GREETING)\n",
        }
    )
    result = run("dry-run", "session-open", "--repo", str(work_repo.work), "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["stdout"] == "hi\n"
    assert list(work_repo.work.rglob("__pycache__")) == []


def test_dry_run_from_a_file_url_with_payload_on_stdin(work_repo: WorkRepo) -> None:
    payload = json.dumps({"sid": "from-stdin", "connection_name": "pg"})
    result = run(
        "dry-run", "session-open", "--repo", f"file://{work_repo.bare}", "--payload", "-", "--json",
        stdin=payload,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    printed = json.loads(json.loads(result.stdout)["stdout"])
    assert printed == {"version": 1, "sid": "from-stdin", "commit": printed["commit"]}
    assert len(printed["commit"]) == 40


def test_failing_hook_exits_one(tmp_path: Path) -> None:
    (tmp_path / "hoop-hooks").mkdir()
    (tmp_path / "hoop-hooks/session-close.runbook.py").write_text("raise SystemExit(4)\n")
    result = run("dry-run", "session-close", "--repo", str(tmp_path), "--exit-code", "1")
    assert result.returncode == 1
    assert "failed (exit 4" in result.stderr


def test_bad_input_is_one_line_and_exit_two(tmp_path: Path) -> None:
    bad_json = run(
        "dry-run", "session-open", "--repo", str(tmp_path), "--payload", "-", stdin="{nope"
    )
    assert bad_json.returncode == 2 and bad_json.stderr.count("\n") == 1
    assert "--payload: not valid JSON" in bad_json.stderr
    no_repo = run("dry-run", "session-open", "--repo", str(tmp_path / "absent"))
    assert no_repo.returncode == 2 and "--repo" in no_repo.stderr
    bad_config = tmp_path / "bad.toml"
    bad_config.write_text("[executor]\ntimeout = -1\n")
    config = run("dry-run", "session-open", "--config", str(bad_config))
    assert config.returncode == 2 and "executor.timeout" in config.stderr


def test_validate_reports_syntax_errors_and_bad_slugs(tmp_path: Path) -> None:
    (tmp_path / "hoop-hooks").mkdir()
    (tmp_path / "hoop-hooks/session-open.runbook.py").write_text("def broken(:\n")
    (tmp_path / "flows/Bad Slug").mkdir(parents=True)
    result = run("validate", str(tmp_path))
    assert result.returncode == 2
    assert "hoop-hooks/session-open.runbook.py:1: error: syntax error" in result.stderr
    assert "flows/Bad Slug:0: error: slug must match" in result.stderr


def test_validate_passes_a_good_repo(work_repo: WorkRepo) -> None:
    result = run("validate", str(work_repo.work))
    assert result.returncode == 0, result.stderr


def test_dry_run_writes_no_credentials_into_the_authors_tree(work_repo: WorkRepo) -> None:
    config = work_repo.work.parent / "with-secrets.toml"
    config.write_text(
        '[repo]\nusername = "bot"\npassword = "t0ken"\n'
        'ssh_key = "-----BEGIN OPENSSH PRIVATE KEY-----\\nabc\\n"\n'
    )
    result = run("dry-run", "session-open", "--repo", str(work_repo.work), "--config", str(config))
    assert result.returncode == 0, result.stderr
    written = {p.name for p in work_repo.work.rglob("*") if ".git" not in p.parts}
    assert written == {"hoop-hooks", "session-open.runbook.py"}
    assert not (work_repo.work / "askpass.sh").exists()


# --- client commands against a real daemon, and their one-line errors --------------------


def client(daemon: RunningDaemon, *args: str, token: str = "admin-token") -> Completed:
    """The CLI as an operator runs it: the config from HOOKRUNNER_CONFIG, a token in env."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOOKRUNNER_")}
    env |= {"HOOKRUNNER_CONFIG": str(daemon.config), "HOOKRUNNER_TOKEN": token}
    return subprocess.run(
        [*HOOKRUNNER, *args], capture_output=True, text=True, env=env, timeout=120
    )


def one_line_error(result: Completed, code: int = 2) -> str:
    assert result.returncode == code, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith("hookrunner: ") and result.stderr.count("\n") == 1, (
        result.stderr
    )
    return result.stderr


def test_every_cli_error_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "hoop-hooks").mkdir()
    port = free_port()
    config = tmp_path / "client.toml"
    config.write_text(f'[server]\nlisten = "127.0.0.1:{port}"\n[state]\ndir = "/dev/null/x"\n')
    repo = str(tmp_path)
    assert "--payload close.json: No such file or directory" in one_line_error(
        run("dry-run", "session-close", "--repo", repo, "--payload", "close.json", cwd=tmp_path)
    )
    assert "--payload" in one_line_error(run("dry-run", "session-open", "--payload", repo))
    assert "--sid and --connection required" in one_line_error(
        run("send", "session-open", "--config", str(config))
    )
    assert "config file not found" in one_line_error(
        run("status", "--config", str(tmp_path / "absent.toml"))
    )
    unreachable = one_line_error(run("status", "--config", str(config)), code=3)
    assert f"daemon unreachable at http://127.0.0.1:{port}" in unreachable
    assert f"(address from config {config})" in unreachable
    assert "--token-file" in one_line_error(
        run("runs", "--config", str(config), "--token-file", str(tmp_path / "absent"))
    )
    assert "/dev/null/x" in one_line_error(run("serve", "--config", str(config)))
    assert "--field" in run("dry-run", "flow", "x", "approve", "--field", "novalue").stderr


def test_clients_do_not_guess_an_address_without_a_config(tmp_path: Path) -> None:
    default = Path("/etc/hookrunner/hookrunner.toml")
    if default.exists():
        pytest.skip(f"{default} exists on this host")
    error = one_line_error(run("status"))
    assert "pass --config FILE or set HOOKRUNNER_CONFIG" in error


def test_help_says_dry_run_runs_hooks_for_real_and_token_new_when_it_works() -> None:
    assert "for real" in " ".join(run("dry-run", "--help").stdout.split())
    assert "for real" in " ".join(run("dry-run", "session-close", "--help").stdout.split())
    made = run("token", "new", "--name", "portal", "--scope", "flows")
    assert made.returncode == 0 and len(made.stdout.strip()) > 30
    assert "inactive until this entry is in server.tokens_file" in made.stderr
    assert 'name = "portal"' in made.stderr


FLAKY_HOOK = """
import os, sys
from pathlib import Path
sys.exit(0 if Path(os.environ["FIXED"]).exists() else 75)
"""


def test_a_succeeded_replay_resolves_the_dead_run(tmp_path: Path, work_repo: WorkRepo) -> None:
    work_repo.commit({"hoop-hooks/session-open.runbook.py": FLAKY_HOOK})
    fixed = tmp_path / "fixed"
    daemon = RunningDaemon(tmp_path, str(work_repo.bare), executor={"env": {"FIXED": str(fixed)}})
    daemon.start()
    try:
        sent = client(daemon, "send", "session-open", "--sid", "s1", "--connection", "pg",
                      "--json")  # fmt: skip
        dead_id = json.loads(sent.stdout)["run_ids"][0]
        with daemon.client() as http:
            assert wait_for_run(http, dead_id)["status"] == "dead"
        failed = client(daemon, "runs", "--failed", "--human")
        assert failed.stdout.splitlines()[0].split() == [
            "RUN", "STATUS", "LAST", "ATTEMPT", "TRIES", "CREATED", "COMMIT", "HOOK"
        ]  # fmt: skip
        assert dead_id in failed.stdout and "tempfail" in failed.stdout
        assert json.loads(client(daemon, "status", "--json").stdout)["dead"] == 1

        fixed.touch()
        replayed = client(daemon, "runs", "replay", dead_id, "--json")
        replay_id = json.loads(replayed.stdout)["run_ids"][0]
        with daemon.client() as http:
            assert wait_for_run(http, replay_id)["status"] == "succeeded"
        assert client(daemon, "runs", "--failed", "--human").stdout == "none\n"
        assert json.loads(client(daemon, "status", "--json").stdout)["dead"] == 0
        original = json.loads(client(daemon, "runs", "show", dead_id, "--json").stdout)
        assert original["status"] == "replayed"
        shown = client(daemon, "runs", "show", replay_id, "--human").stdout
        assert ["replays", dead_id] in [line.split() for line in shown.splitlines()]
        assert "succeeded, exit 0" in shown

        listed = client(daemon, "runs", "--limit", "1", "--human")
        assert len(listed.stdout.splitlines()) == 2  # the header and one run
        assert "--limit 2 shows more" in listed.stderr
        assert "succeeded  succeeded" not in client(daemon, "runs", "--human").stdout
    finally:
        daemon.stop()


def test_events_wait_for_the_first_clone_and_everyone_says_why(tmp_path: Path) -> None:
    later = tmp_path / "later"
    daemon = RunningDaemon(tmp_path, str(later / "remote.git"))
    daemon.start(expect_ready=False)
    try:
        with daemon.client() as http:
            status = poll(lambda: http.get("/v1/status").json(), lambda s: s["last_sync"])
            assert "last attempt failed: git" in status["waiting"]
            ready = http.get("/readyz")
            assert ready.status_code == 503 and "no snapshot of" in ready.json()["reason"]
            human = client(daemon, "status", "--human").stdout
            assert "waiting" in human and "FAILED" in human
            sync = one_line_error(client(daemon, "sync"), code=1)
            assert "git sync failed: git" in sync

            accepted_at = time.time()
            run_id = http.post(
                "/v1/events/session-open", json={"sid": "early", "connection_name": "pg"}
            ).json()["run_ids"][0]
            # A clone attempt after the event was accepted failed: the run spent nothing.
            poll(lambda: http.get("/v1/status").json(),
                 lambda s: s["last_sync"]["at"] > accepted_at)  # fmt: skip
            queued = http.get(f"/v1/runs/{run_id}").json()
            assert (queued["status"], queued["attempt"]) == ("queued", 0)

            WorkRepo(later).echo_hook(1)
            daemon.wait_for_notification("READY=1", timeout=90)
            run = wait_for_run(http, run_id, timeout=60)
            assert (run["status"], run["attempt"]) == ("succeeded", 1)
        assert any(n.startswith("STATUS=no snapshot of") for n in daemon.notifications)
        assert "waiting_for_snapshot" in daemon.log_text()
    finally:
        daemon.stop()


T = TypeVar("T")


def poll(read: Callable[[], T], done: Callable[[T], Any], timeout: float = 60) -> T:
    """``read()`` until ``done`` says so; a daemon that is not listening yet is not done."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.TransportError):
            value = read()
            if done(value):
                return value
        time.sleep(0.1)
    raise TimeoutError(f"not done after {timeout} s")


def test_human_text_has_relative_times_and_no_repeated_words() -> None:
    now = 1_000_000.0
    assert render.ago(now - 5, now) == "5 s ago"
    assert render.ago(now - 7200, now) == "2 h ago"
    assert render.ago(now + 90, now) == "in 1 min"
    run = {
        "run_id": "r1", "event_id": "e1", "hook": "session-open.runbook.py",
        "status": "succeeded", "outcome": "succeeded", "attempt": 1, "commit": "a" * 40,
        "created_at": now - 61, "exit_code": 0, "duration_s": 0.5, "next_attempt_at": now,
        "stdout": "hello\n", "stderr": "", "truncated": False, "replay_of": None,
    }  # fmt: skip
    table = render.runs_table([run], now)
    assert table.splitlines()[1].split() == [
        "r1", "succeeded", "-", "1", "1", "min", "ago", "a" * 12, "session-open.runbook.py"
    ]  # fmt: skip
    assert "  | hello" in render.run_text(run, now)


def test_sd_notify_never_blocks_on_a_full_queue(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The daemon sends STATUS= from its event loop: a reader that lags must not stall it."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as unread:
        unread.bind(str(tmp_path / "notify.sock"))
        monkeypatch.setenv("NOTIFY_SOCKET", str(tmp_path / "notify.sock"))
        answers: list[bool] = []
        sender = threading.Thread(
            target=lambda: answers.extend(systemd.notify(f"STATUS={n}") for n in range(500)),
            daemon=True,
        )
        sender.start()
        sender.join(30)
        assert not sender.is_alive(), "notify blocked"
        assert answers[0] and not answers[-1]  # the first ones queued, the rest dropped
