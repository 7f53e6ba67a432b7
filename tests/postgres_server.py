"""A real PostgreSQL server for tests: its own cluster in a temporary directory, TCP on
127.0.0.1 only, stopped and started at will (to play an outage).

PostgreSQL refuses to run as root, so when the tests run as root the server runs as
``nobody``. Skipped, with the reason, only where no PostgreSQL binaries exist.
"""

from __future__ import annotations

import glob
import itertools
import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import psycopg
from conftest import free_port

USER = "hookrunner"


def postgres_bindir() -> Path | None:
    """Where ``initdb`` and ``postgres`` are: on PATH, or the newest Debian cluster tools."""
    found = shutil.which("initdb")
    if found and shutil.which("postgres"):
        return Path(found).parent
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), reverse=True)
    return Path(candidates[0]).parent if candidates else None


class PostgresServer:
    def __init__(self, bindir: Path) -> None:
        self.bindir = bindir
        # Not under pytest's own temp dir: as root, that is closed to ``nobody``.
        self.root = Path(tempfile.mkdtemp(prefix="hookrunner-pg-"))
        self.data = self.root / "data"
        self.sockets = self.root / "sockets"
        self.sockets.mkdir()
        self.port = free_port()
        self._names = itertools.count(1)
        self.process: subprocess.Popen[bytes] | None = None
        if os.geteuid() == 0:
            self.root.chmod(0o755)
            for path in (self.root, self.sockets):
                os.chown(path, 65534, 65534)
        self._run("initdb", "-D", str(self.data), "-U", USER, "--auth=trust", "-E", "UTF8",
                  "--no-sync", "--no-instructions")  # fmt: skip

    def _as_server_user(self, command: list[str]) -> list[str]:
        if os.geteuid() != 0:
            return command
        return ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", *command]

    def _run(self, tool: str, *args: str) -> None:
        subprocess.run(
            self._as_server_user([str(self.bindir / tool), *args]),
            check=True,
            capture_output=True,
            cwd=self.root,
        )

    def start(self) -> None:
        log = (self.root / "server.log").open("ab")
        self.process = subprocess.Popen(
            self._as_server_user(
                [
                    str(self.bindir / "postgres"),
                    "-D",
                    str(self.data),
                    "-p",
                    str(self.port),
                    "-c",
                    "listen_addresses=127.0.0.1",
                    "-c",
                    f"unix_socket_directories={self.sockets}",
                    "-c",
                    "max_connections=300",
                    "-c",
                    "fsync=off",
                    "-c",
                    "synchronous_commit=off",
                    "-c",
                    "full_page_writes=off",
                ]
            ),
            stdout=log,
            stderr=log,
            cwd=self.root,
        )
        deadline = time.monotonic() + 60
        while True:
            try:
                psycopg.connect(self.url("postgres"), connect_timeout=2).close()
                return
            except psycopg.OperationalError:
                assert self.process.poll() is None, self.log_text()
                if time.monotonic() > deadline:
                    raise TimeoutError(f"PostgreSQL did not start:\n{self.log_text()}") from None
                time.sleep(0.1)

    def stop(self) -> None:
        """A fast shutdown: clients are disconnected, nothing committed is lost."""
        if self.process is None:
            return
        self.process.send_signal(signal.SIGINT)
        self.process.wait(timeout=60)
        self.process = None

    def log_text(self) -> str:
        return (self.root / "server.log").read_text(errors="replace")[-3000:]

    def url(self, database: str) -> str:
        return f"postgresql://{USER}@127.0.0.1:{self.port}/{database}"

    def new_database(self) -> str:
        """A fresh, empty database; its URL."""
        name = f"journal_{os.getpid()}_{next(self._names)}"
        with psycopg.connect(self.url("postgres"), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)
