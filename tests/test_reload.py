"""One settings holder: a reload (SIGHUP) reaches every component at once."""

from __future__ import annotations

import json
import shutil
import signal
from pathlib import Path

import pytest
from conftest import GitDaemon, WorkRepo
from daemon_harness import TOKENS, RunningDaemon, wait_for_log

from hookrunner.config import LiveSettings, Settings
from hookrunner.daemon import build_services
from hookrunner.journal import open_journal

MARK_HOOK = "import os\nprint(os.environ.get('MARK'))\n"


def test_every_component_reads_the_replaced_settings(tmp_path: Path) -> None:
    def settings(url: str, value: int) -> Settings:
        return Settings(
            repo={"url": url, "ttl": value, "max_snapshot_bytes": value << 20},
            executor={"timeout": value, "env": {"MARK": str(value)}},
            retry={"backoff": [value]},
            server={"max_body_bytes": value << 10, "tokens_file": ""},
            webhooks={"hoop_secret": f"secret-{value}"},
            state={"dir": str(tmp_path)},
            environments={"max_bytes": value << 20},
        )

    live = LiveSettings(settings("file:///before", 10))
    journal = open_journal(tmp_path)
    try:
        services, _timers = build_services(live, journal, lambda: True)
        live.replace(settings("file:///after", 20))
        repository = services.repository
        seen = {
            "api": services.settings.server.max_body_bytes,
            "api webhooks": services.settings.webhooks.hoop_secret.get_secret_value(),
            "dispatcher": services.dispatcher.settings.executor.timeout,
            "dispatcher retry": services.dispatcher.settings.retry.backoff,
            "engine": services.engine.settings.executor.env,
            "engine retry": services.engine.settings.retry.backoff,
            "repository": repository.settings.ttl,
            "sync": repository.syncer.settings.url,
            "git": repository.syncer.git.settings.url,
            "snapshot bound": repository.syncer.settings.max_snapshot_bytes,
            "environments": services.runtime.environments.settings.environments.max_bytes,
        }
    finally:
        journal.close()
    assert seen == {
        "api": 20 << 10,
        "api webhooks": "secret-20",
        "dispatcher": 20,
        "dispatcher retry": [20],
        "engine": {"MARK": "20"},
        "engine retry": [20],
        "repository": 20,
        "sync": "file:///after",
        "git": "file:///after",
        "snapshot bound": 20 << 20,
        "environments": 20 << 20,
    }


def test_sighup_changes_what_the_running_daemon_does(
    tmp_path: Path, work_repo: WorkRepo, git_daemon: GitDaemon
) -> None:
    work_repo.commit({"hoop-hooks/session-open.runbook.py": MARK_HOOK})
    daemon = RunningDaemon(
        tmp_path, git_daemon.url("remote.git"), executor={"env": {"MARK": "before"}}
    )
    padded = json.dumps({"sid": "s", "connection_name": "c"}) + " " * 3000
    try:
        daemon.start()
        with daemon.client("admin-token") as admin:
            first = admin.post("/v1/events/session-open?wait=true", content=padded)
            assert first.json()["runs"][0]["stdout"].strip() == "before"
            settings = daemon.config.read_text().replace('"before"', '"after"')
            settings = settings.replace("[server]\n", "[server]\nmax_body_bytes = 2048\n")
            daemon.config.write_text(settings)
            (daemon.dir / "tokens.toml").write_text(
                TOKENS + '[[token]]\nname = "new"\ntoken = "new-token"\nscopes = ["read"]\n'
            )
            assert daemon.process is not None
            daemon.process.send_signal(signal.SIGHUP)
            wait_for_log(daemon, '"reloaded"')
            assert admin.post("/v1/events/session-open", content=padded).status_code == 413
            small = {"sid": "s2", "connection_name": "c"}
            after = admin.post("/v1/events/session-open?wait=true", json=small)
            assert after.json()["runs"][0]["stdout"].strip() == "after"
        with daemon.client("new-token") as reader:
            assert reader.get("/v1/status").status_code == 200
    finally:
        daemon.stop()


# Whether the hook has a PID namespace of its own (bubblewrap's): it sees only a few
# processes there, against the whole host's without it.
NAMESPACE_HOOK = """\
import os
print("own" if len([p for p in os.listdir("/proc") if p.isdigit()]) < 10 else "host")
"""


def test_sighup_reprobes_isolation_and_refuses_what_the_host_cannot_give(
    tmp_path: Path, work_repo: WorkRepo
) -> None:
    if shutil.which("bwrap") is None:
        pytest.skip("bubblewrap (bwrap) is not installed")
    work_repo.commit({"hoop-hooks/session-open.runbook.py": NAMESPACE_HOOK})
    daemon = RunningDaemon(tmp_path, str(work_repo.bare))
    assert daemon.process is None

    def reload(change: tuple[str, str]) -> None:
        daemon.config.write_text(daemon.config.read_text().replace(*change))
        assert daemon.process is not None
        daemon.process.send_signal(signal.SIGHUP)

    try:
        daemon.start()
        with daemon.client("admin-token") as admin:

            def pid_namespace(sid: str) -> tuple[str, str]:
                body = {"sid": sid, "connection_name": "c"}
                (run,) = admin.post("/v1/events/session-open?wait=true", json=body).json()["runs"]
                assert run["status"] == "succeeded", run
                sandbox = admin.get("/v1/status").json()["isolation"]["sandbox"]
                return run["stdout"].strip(), sandbox

            assert pid_namespace("before") == ("host", "none")
            reload(('sandbox = "none"', 'sandbox = "bwrap"'))
            wait_for_log(daemon, '"reloaded"')
            assert pid_namespace("sandboxed") == ("own", "bwrap")
            # Fails closed: the whole reload is refused, the sandbox stays.
            reload(('sandbox = "bwrap"', 'sandbox = "none"\nuser = "no-such-hook-account"'))
            wait_for_log(daemon, '"reload_failed"')
            assert pid_namespace("refused") == ("own", "bwrap")
        failures = [line for line in daemon.log_text().splitlines() if "reload_failed" in line]
        assert len(failures) == 1 and "no-such-hook-account" in failures[0]
    finally:
        daemon.stop()
