"""A flood of idle connections degrades intake (503, closed) but never the running hooks,
the file descriptors, or the log volume. 127.0.0.1 only, bounded in time."""

from __future__ import annotations

import contextlib
import json
import resource
import selectors
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from conftest import WorkRepo
from daemon_harness import RunningDaemon, wait_for_run

FLOOD = 1100
DAEMON_FDS = 512  # the daemon's RLIMIT_NOFILE: far below what the flood would need
SLOW_HOOK = """\
import json, os, time
time.sleep(3)
print(json.loads(os.environ["HOOP_RUNBOOK_HOOK_PAYLOAD"])["sid"])
"""


@pytest.fixture
def room_for_the_flood() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = FLOOD + 256
    if soft < wanted:
        if hard != resource.RLIM_INFINITY and hard < wanted:
            pytest.skip(f"this test process may open only {hard} files")
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))


@pytest.fixture
def daemon(
    tmp_path: Path, work_repo: WorkRepo, room_for_the_flood: None
) -> Iterator[RunningDaemon]:
    work_repo.commit({"hoop-hooks/session-close.runbook.py": SLOW_HOOK})
    running = RunningDaemon(
        tmp_path,
        str(work_repo.bare),
        server={"idle_timeout": 2},
        executor={"interpreter": sys.executable},
    )
    limit = (
        f"import resource\nresource.setrlimit(resource.RLIMIT_NOFILE, ({DAEMON_FDS}, {DAEMON_FDS}))"
    )
    running.start(prelude=limit)
    yield running
    running.stop()


def open_idle_connections(port: int, count: int) -> list[socket.socket]:
    """Connect ``count`` times without sending a byte (non-blocking: the test never hangs)."""
    held = []
    for _ in range(count):
        sock = socket.socket()
        sock.setblocking(False)
        with contextlib.suppress(BlockingIOError):
            sock.connect(("127.0.0.1", port))
        held.append(sock)
    return held


def answers(held: list[socket.socket], wait: float) -> tuple[int, int, int]:
    """Of ``held``: how many got the daemon's 503, how many it closed without a word (held
    until the idle timeout), and how many heard nothing within ``wait`` seconds."""
    busy = closed = 0
    with selectors.DefaultSelector() as selector:
        for sock in held:
            selector.register(sock, selectors.EVENT_READ)
        deadline = time.monotonic() + wait
        while selector.get_map() and time.monotonic() < deadline:
            for key, _ in selector.select(0.2):
                try:
                    first = key.fileobj.recv(64)  # type: ignore[union-attr]
                except OSError:
                    first = b""
                if first.startswith(b"HTTP/1.1 503"):
                    busy += 1
                else:
                    closed += 1
                selector.unregister(key.fileobj)
        return busy, closed, len(selector.get_map())


def post_until_admitted(client: httpx.Client) -> tuple[httpx.Response | None, float]:
    """What a gateway does: retry a refused event (503 or reset) for up to 30 s."""
    started = time.monotonic()
    answer = None
    while time.monotonic() - started < 30:
        with contextlib.suppress(httpx.TransportError):
            answer = client.post(
                "/v1/events/session-open?wait=true",
                json={"sid": "real", "connection_name": "c"},
                timeout=10,
            )
            if answer.status_code != 503:
                break
        time.sleep(0.1)
    return answer, time.monotonic() - started


def test_idle_connection_flood_degrades_intake_only(daemon: RunningDaemon) -> None:
    with daemon.client("admin-token") as admin:
        running = admin.post("/v1/events/session-close", json={"sid": "during", "exit_code": 0})
        run_id = running.json()["run_ids"][0]
        log_before = len(daemon.log_text().splitlines())
        held = open_idle_connections(daemon.port, FLOOD)
        try:
            with daemon.client("admin-token") as gateway:  # a fresh connection, like a gateway
                answer, latency = post_until_admitted(gateway)
            busy, closed, silent = answers(held, wait=10)
        finally:
            for sock in held:
                sock.close()
        assert answer is not None and answer.status_code == 200, answer
        assert answer.json()["runs"][0]["status"] == "succeeded"
        assert wait_for_run(admin, run_id)["status"] == "succeeded"  # the running hook was fine
        assert admin.get("/readyz").status_code == 200
        metrics = admin.get("/metrics").text
    log_path = daemon.dir / "daemon.log"
    lines = len(log_path.read_text(errors="replace").splitlines()) - log_before
    print(
        f"flood: {FLOOD} idle connections: {busy} answered 503 at once, {closed} held until"
        f" the idle timeout, {silent} unanswered; a real event got through"
        f" {latency:.2f} s after the flood began; {lines} log lines written",
        file=sys.stderr,
    )
    # The bound: 512 fds less what is kept for the journal, git and hooks leaves 384
    # connections open at once; the rest are refused at once. (Those the kernel never
    # handed to the daemon, its accept queue being full, are "unanswered".)
    assert busy > 0 and closed > 0
    assert '"max_connections": 384' in daemon.log_text()
    assert lines < 50, daemon.log_text()
    assert "Too many open files" not in daemon.log_text()
    refused = next(
        line for line in metrics.splitlines()
        if line.startswith("hookrunner_http_connections_refused_total")
    )  # fmt: skip
    assert float(refused.split()[-1]) >= busy


REPEAT_SCRIPT = """
import logging
import structlog
from hookrunner.logs import configure_logging, report_held_repeats
configure_logging("json", "info")
log = structlog.get_logger("test")
for n in range(10000):
    log.error("accept_failed", attempt=n)
    logging.getLogger("asyncio").error("socket.accept() out of system resource\\nsocket: %d", n)
log.info("per_run_line")
report_held_repeats()
"""


def test_a_flood_of_identical_errors_writes_a_few_lines_and_a_count() -> None:
    done = subprocess.run(
        [sys.executable, "-c", REPEAT_SCRIPT], capture_output=True, text=True, timeout=120
    )
    lines = [json.loads(line) for line in done.stderr.splitlines()]
    assert len(lines) <= 5 + 5 + 1 + 2, done.stderr[:2000]
    held = {line["kind"]: line["repeated_lines_held"] for line in lines if "kind" in line}
    assert held == {"accept_failed": 9995, "socket.accept() out of system resource": 9995}
    assert any(line["event"] == "per_run_line" for line in lines)
