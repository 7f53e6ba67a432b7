"""A real ``hookrunner serve`` process for end-to-end tests, with its sd_notify socket."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
from conftest import free_port

from hookrunner.client import NO_DELAY

TOKENS = """
[[token]]
name = "gateway"
token = "events-token"
scopes = ["events"]

[[token]]
name = "viewer"
token = "read-token"
scopes = ["read"]

[[token]]
name = "portal"
token = "flows-token"
scopes = ["flows", "read"]

[[token]]
name = "operator"
token = "admin-token"
scopes = ["admin", "read", "events"]
"""
HOOP_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
GIT_SECRET = "push-secret"


class RunningDaemon:
    def __init__(self, tmp_path: Path, repo_url: str, **sections: dict[str, Any]) -> None:
        self.dir = tmp_path / "daemon"
        self.dir.mkdir(exist_ok=True)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        (self.dir / "tokens.toml").write_text(TOKENS)
        settings: dict[str, dict[str, Any]] = {
            "repo": {"url": repo_url, "ttl": 3600, "refresh_wait": 2},
            "server": {
                "listen": f"127.0.0.1:{self.port}",
                "tokens_file": str(self.dir / "tokens.toml"),
            },
            "state": {"dir": str(self.dir / "state")},
            "webhooks": {"hoop_secret": HOOP_SECRET, "git_secret": GIT_SECRET},
            "retry": {"backoff": [0.2, 0.2]},
            "log": {"format": "json", "level": "info"},
            # Hooks in most tests write to the test's own directories, which a sandbox
            # (read-only /, private /tmp) hides; test_isolation runs it explicitly.
            "executor": {"sandbox": "none"},
        }
        for name, values in sections.items():
            settings.setdefault(name, {}).update(values)
        self.config = self.dir / "hookrunner.toml"
        self.config.write_text(_toml(settings))
        self.notify_path = self.dir / "notify.sock"
        self.process: subprocess.Popen[bytes] | None = None
        self.notifications: list[str] = []

    def command(self, prelude: str = "") -> list[str]:
        """``serve`` for this daemon; ``prelude`` is Python run first in the same process
        (to inject a fault into the real daemon)."""
        code = f"{prelude}\nfrom hookrunner.cli import main\nmain()"
        return [sys.executable, "-c", code, "serve", "--config", str(self.config)]

    def start(
        self,
        expect_ready: bool = True,
        timeout: float = 30,
        env: dict[str, str] | None = None,
        prefix: list[str] | None = None,
        prelude: str = "",
    ) -> None:
        """Start ``serve``; ``env`` adds to its environment, ``prefix`` wraps its command."""
        with contextlib.suppress(FileNotFoundError):
            self.notify_path.unlink()
        self.notifications = []
        self.notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.notify.bind(str(self.notify_path))
        base = {k: v for k, v in os.environ.items() if not k.startswith(("HOOKRUNNER_", "GIT_"))}
        base["NOTIFY_SOCKET"] = str(self.notify_path)
        self.log = (self.dir / "daemon.log").open("ab")
        self.process = subprocess.Popen(
            [*(prefix or []), *self.command(prelude)],
            env=base | (env or {}),
            stdout=self.log,
            stderr=self.log,
        )
        if expect_ready:
            self.wait_for_notification("READY=1", timeout)

    def wait_for_notification(self, wanted: str, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while wanted not in self.notifications:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"no {wanted} from the daemon; log:\n{self.log_text()}")
            assert self.process is not None and self.process.poll() is None, self.log_text()
            self.notify.settimeout(min(remaining, 0.5))
            try:
                self.notifications += self.notify.recv(4096).decode().split("\n")
            except TimeoutError:
                continue

    def log_text(self) -> str:
        return (self.dir / "daemon.log").read_text(errors="replace")[-5000:]

    def client(self, token: str | None = "admin-token") -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        transport = httpx.HTTPTransport(socket_options=[NO_DELAY])
        return httpx.Client(base_url=self.url, headers=headers, timeout=60, transport=transport)

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)
        self._close()

    def terminate(self, timeout: float = 60) -> int:
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        code = self.process.wait(timeout)
        self.notify.setblocking(False)
        with contextlib.suppress(BlockingIOError):
            while True:
                self.notifications += self.notify.recv(4096).decode().split("\n")
        self._close()
        return code

    def _close(self) -> None:
        self.notify.close()
        self.log.close()
        self.process = None

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.kill()


def _toml(settings: dict[str, dict[str, Any]]) -> str:
    def value(v: Any) -> str:
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, str):
            return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
        if isinstance(v, list):
            return "[" + ", ".join(value(item) for item in v) + "]"
        if isinstance(v, dict):
            return "{" + ", ".join(f"{k} = {value(item)}" for k, item in v.items()) + "}"
        return str(v)

    return "\n".join(
        f"[{name}]\n" + "".join(f"{k} = {value(v)}\n" for k, v in values.items())
        for name, values in settings.items()
    )


def wait_for_run(client: httpx.Client, run_id: str, timeout: float = 30) -> dict[str, Any]:
    """Poll until the run reaches a final state (events, not sleeps: bounded by ``timeout``)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run: dict[str, Any] = client.get(f"/v1/runs/{run_id}").json()
        if run["status"] in ("succeeded", "failed", "skipped", "dead"):
            return run
        time.sleep(0.05)
    raise TimeoutError(f"run {run_id} did not finish")


def wait_for_log(daemon: RunningDaemon, text: str, timeout: float = 30) -> None:
    """Poll the daemon's log until ``text`` shows up (bounded by ``timeout``)."""
    deadline = time.monotonic() + timeout
    while text not in daemon.log_text():
        assert time.monotonic() < deadline, f"no {text!r} in the log"
        time.sleep(0.05)
