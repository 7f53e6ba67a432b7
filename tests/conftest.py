"""Shared fixtures: real git repositories, a real ``git daemon``, free ports."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

GIT_ENV = {
    "GIT_AUTHOR_NAME": "Test",
    "GIT_AUTHOR_EMAIL": "test@example.com",
    "GIT_COMMITTER_NAME": "Test",
    "GIT_COMMITTER_EMAIL": "test@example.com",
    "GIT_CONFIG_NOSYSTEM": "1",
}

ECHO_HOOK = """\
import json, os, sys
payload = json.loads(os.environ["HOOP_RUNBOOK_HOOK_PAYLOAD"])
commit = os.environ["HOOKRUNNER_COMMIT"]
print(json.dumps({"version": VERSION, "sid": payload["sid"], "commit": commit}))
"""


def git(*args: str, cwd: Path) -> str:
    return subprocess.run(
        ["git", *args],
        cwd=cwd,
        env={**os.environ, **GIT_ENV},
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()


class WorkRepo:
    """A working repository whose bare twin is the remote the daemon syncs from."""

    def __init__(self, root: Path, branch: str = "main") -> None:
        self.work = root / "work"
        self.bare = root / "remote.git"
        self.branch = branch
        self.work.mkdir(parents=True)
        git("init", "--quiet", "-b", branch, cwd=self.work)
        git("init", "--quiet", "--bare", "-b", branch, str(self.bare), cwd=root)
        git("remote", "add", "origin", str(self.bare), cwd=self.work)

    def write(self, files: dict[str, str]) -> None:
        for rel, text in files.items():
            path = self.work / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)

    def commit(self, files: dict[str, str], message: str = "change") -> str:
        self.write(files)
        git("add", "-A", cwd=self.work)
        git("commit", "--quiet", "-m", message, cwd=self.work)
        return self.push()

    def push(self, force: bool = False) -> str:
        git(
            "push", "--quiet", *(["--force"] if force else []), "origin", self.branch, cwd=self.work
        )
        return git("rev-parse", "HEAD", cwd=self.work)

    def echo_hook(self, version: int) -> str:
        """Commit a session-open hook that reports its version and the commit it ran on."""
        return self.commit(
            {"hoop-hooks/session-open.runbook.py": ECHO_HOOK.replace("VERSION", str(version))},
            f"hook v{version}",
        )


@pytest.fixture
def work_repo(tmp_path: Path) -> WorkRepo:
    repo = WorkRepo(tmp_path / "git")
    repo.echo_hook(1)
    return repo


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listening on 127.0.0.1:{port}")


class GitDaemon:
    """``git daemon`` serving one directory over git:// on 127.0.0.1."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    def url(self, name: str) -> str:
        return f"git://127.0.0.1:{self.port}/{name}"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                "git",
                "daemon",
                "--reuseaddr",
                "--export-all",
                "--listen=127.0.0.1",
                f"--port={self.port}",
                f"--base-path={self.base}",
                str(self.base),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for_port(self.port)

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(10)
            self.process = None


@pytest.fixture
def git_daemon(work_repo: WorkRepo) -> Iterator[GitDaemon]:
    daemon = GitDaemon(work_repo.bare.parent)
    daemon.start()
    yield daemon
    daemon.stop()


@contextlib.contextmanager
def stalled_server(port: int) -> Iterator[list[socket.socket]]:
    """A listener on ``port`` that accepts connections and never answers; yields them."""
    listener = socket.create_server(("127.0.0.1", port))
    held: list[socket.socket] = []

    def hold_connections() -> None:
        with contextlib.suppress(OSError):  # the listener is closed at the end
            while True:
                held.append(listener.accept()[0])

    threading.Thread(target=hold_connections, daemon=True).start()
    try:
        yield held
    finally:
        listener.close()


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[Any]:
    """One PostgreSQL cluster for the session, in a temporary directory."""
    from postgres_server import PostgresServer, postgres_bindir

    bindir = postgres_bindir()
    if bindir is None:
        pytest.skip("no PostgreSQL binaries (initdb, postgres) on this machine")
    server = PostgresServer(bindir)
    try:
        server.start()
        yield server
    finally:
        server.close()


@pytest.fixture
def postgres_url(postgres_server: Any) -> str:
    """A fresh database on the session's server; started again if a test stopped it."""
    if postgres_server.process is None:
        postgres_server.start()
    return str(postgres_server.new_database())
