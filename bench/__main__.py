"""``make bench``: figures as ratios against a baseline measured in the same run.

Not run by CI. Every figure talks only to 127.0.0.1 and stops by itself. It reuses the
test suite's real-git and real-daemon harness rather than a second copy of it.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import concurrent.futures
import contextlib
import hashlib
import hmac
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

import httpx
from conftest import GitDaemon, WorkRepo, free_port, stalled_server, wait_for_port
from daemon_harness import GIT_SECRET, RunningDaemon
from wheelhouse import build_package

from bench.integrations import bench_integration_calls
from hookrunner.config import RepoSettings
from hookrunner.execution import Isolation, IsolationUnavailable, Limits, RunSpec, execute
from hookrunner.execution.cgroups import CgroupTree, RunCgroup
from hookrunner.execution.isolation import setup
from hookrunner.repo import Repository

TRIVIAL_HOOK = "import os\nos.environ['HOOP_RUNBOOK_HOOK_PAYLOAD']\n"


def percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def milliseconds(latencies: list[float]) -> str:
    return f"{percentile(latencies, 0.5) * 1000:6.1f}/{percentile(latencies, 0.99) * 1000:6.1f} ms"


PEAK_RSS_PROBE = (
    "import resource, subprocess, sys;"
    " subprocess.run(sys.argv[1:], check=True, capture_output=True);"
    " print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"
)


def timed(command: list[str], runs: int, env: dict[str, str]) -> tuple[float, int]:
    """Median wall time of ``command`` and the peak RSS (KiB) of its largest process."""
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(command, check=True, capture_output=True, env=env)
        times.append(time.perf_counter() - started)
    probe = subprocess.run([sys.executable, "-c", PEAK_RSS_PROBE, *command], check=True,
                           capture_output=True, text=True, env=env)  # fmt: skip
    return statistics.median(times), int(probe.stdout)


def bench_dry_run(work: Path, runs: int) -> None:
    hook = work / "hoop-hooks" / "session-open.runbook.py"
    python = sys.executable
    env = {
        **os.environ,
        "HOOP_RUNBOOK_HOOK_PAYLOAD": "{}",
        "HOOKRUNNER_EXECUTOR__INTERPRETER": python,
    }
    baseline, baseline_rss = timed([python, str(hook)], runs, env)
    command = [python, "-m", "hookrunner", "dry-run", "session-open", "--repo", str(work)]
    dry_run, dry_rss = timed(command, runs, env)
    print(f"dry-run wall        {dry_run * 1000:8.1f} ms  python3 hook.py {baseline * 1000:6.1f} ms"
          f"  ratio {dry_run / baseline:5.2f}x")  # fmt: skip
    ratio = dry_rss / baseline_rss
    print(f"dry-run peak RSS    {dry_rss / 1024:8.1f} MiB"
          f" python3 hook.py {baseline_rss / 1024:6.1f} MiB ratio {ratio:5.2f}x")  # fmt: skip


def bench_git_calls(bare: Path, state: Path) -> None:
    repository = Repository(RepoSettings(url=str(bare), ttl=3600), state)
    repository.refresh()
    before = repository.git_invocations
    for _ in range(1000):
        repository.index()
    print(f"git calls / 1,000 events (valid TTL): {repository.git_invocations - before}")


def load(send: Callable[[int], None], total: int, concurrency: int) -> tuple[float, list[float]]:
    latencies: list[float] = []

    def one(n: int) -> None:
        started = time.perf_counter()
        send(n)
        latencies.append(time.perf_counter() - started)

    started = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(one, range(total)))
    return total / (time.perf_counter() - started), latencies


class Stats(NamedTuple):
    rss_mib: float
    fds: int
    threads: int
    children: int

    def __str__(self) -> str:
        return (f"RSS {self.rss_mib:.1f} MiB, {self.fds} fds, {self.threads} threads,"
                f" {self.children} children")  # fmt: skip


def process_stats(pid: int) -> Stats:
    status = dict(
        line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines()
    )
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return Stats(int(status["VmRSS"].split()[0]) / 1024, len(os.listdir(f"/proc/{pid}/fd")),
                 int(status["Threads"]), len(children))  # fmt: skip


def bench_leaks(tmp: Path, work_repo: WorkRepo, events: int, syncs: int) -> None:
    """RSS, fds, threads and children before and after many events and syncs (goal: flat)."""
    tmp.mkdir()
    executor = {"max_concurrency": 4, "interpreter": sys.executable}
    daemon = RunningDaemon(tmp, str(work_repo.bare), executor=executor, log={"level": "warning"})
    daemon.start()
    assert daemon.process is not None
    pid = daemon.process.pid
    try:
        with daemon.client("events-token") as client:

            def post(n: int) -> None:
                answer = client.post("/v1/events/session-open?wait=true",
                                     json={"sid": f"b{n}", "connection_name": "c"})  # fmt: skip
                assert answer.status_code == 200, answer.text

            load(post, 400, 4)  # warm: caches, thread pools and allocator arenas fill first
            before = process_stats(pid)
            started = time.perf_counter()
            trend = []  # RSS after each quarter: a cache levels off, a leak keeps climbing
            rates = []  # and events/s per quarter: does a growing journal slow intake?
            for _ in range(4):
                rates.append(f"{load(post, events // 4, 4)[0]:.0f}")
                trend.append(f"{process_stats(pid).rss_mib:.1f}")
            event_seconds = time.perf_counter() - started
        with daemon.client("admin-token") as admin:
            started = time.perf_counter()
            sync_trend = []
            for n in range(syncs):
                if n and n % (syncs // 4) == 0:
                    sync_trend.append(f"{process_stats(pid).rss_mib:.1f}")
                if n % 10 == 0:  # every tenth sync publishes a new snapshot and collects the old
                    work_repo.commit(
                        {"hoop-hooks/session-open.runbook.py": f"{TRIVIAL_HOOK}# {n}\n"}
                    )
                assert admin.post("/v1/sync").status_code == 200
            sync_seconds = time.perf_counter() - started
        after = process_stats(pid)
        sync_trend.append(f"{after.rss_mib:.1f}")
        print(f"leaks: {events} events in {event_seconds:.0f} s, {syncs} syncs"
              f" ({syncs // 10} new commits) in {sync_seconds:.0f} s")  # fmt: skip
        print(f"     before {before}")
        print(f"     RSS after each quarter of the events: {' / '.join(trend)} MiB"
              f" (events/s {' / '.join(rates)})")  # fmt: skip
        print(f"     RSS after each quarter of the syncs: {' / '.join(sync_trend)} MiB")
        print(f"     after  {after}")
        print(f"     RSS growth {after.rss_mib - before.rss_mib:+.1f} MiB (goal < 5 MB)")
    finally:
        daemon.stop()


BENCH_FLOW = {
    "flows/bench/impl.py": (
        "from hookrunner.sdk import hook\n\n"
        "@hook\ndef on_request(event):\n    pass\n\n"
        "@hook\ndef on_approve(event):\n    pass\n\n"
        "@hook\ndef after_escalate(event):\n    pass\n"
    ),
    "flows/bench/escalate.runbook.py": "import os\nos.environ['HOOKRUNNER_FLOW_EVENT']\n",
}


def flow_round_trips(daemon: RunningDaemon, rounds: int) -> list[float]:
    """Seconds for request -> approve -> escalated, each of ``rounds`` times."""
    trips = []
    with daemon.client("flows-token") as client:
        for n in range(rounds):
            started = time.perf_counter()
            opened = client.post("/v1/flows/bench/requests",
                                 json={"user": {"email": f"u{n}@example.com"}})  # fmt: skip
            approved = client.post(f"/v1/requests/{opened.json()['id']}/approve",
                                   json={"user": {"email": "boss@example.com"}})  # fmt: skip
            trips.append(time.perf_counter() - started)
            assert approved.json()["state"] == "escalated", approved.text
    return trips


def bench_journals(tmp: Path, work_repo: WorkRepo, repeat: int, rounds: int) -> None:
    """Events/s at c=4 (?wait=true) and the flow round trip, on SQLite and on PostgreSQL
    (a local server in a temporary directory, 127.0.0.1), in the same run."""
    from postgres_server import PostgresServer, postgres_bindir

    bindir = postgres_bindir()
    if bindir is None:
        print("journals: no PostgreSQL binaries, no comparison")
        return
    commit_once(work_repo, BENCH_FLOW)
    server = PostgresServer(bindir)
    server.start()
    body = {"sid": "b", "connection_name": "c"}
    try:
        for name, url in (("sqlite", ""), ("postgresql", server.new_database())):
            (tmp / name).mkdir(parents=True)
            daemon = RunningDaemon(
                tmp / name, str(work_repo.bare), log={"level": "warning"}, journal={"url": url},
                executor={"interpreter": sys.executable, "max_concurrency": 4},
            )  # fmt: skip
            daemon.start()
            try:
                with daemon.client("events-token") as client:

                    def post(_n: int, client: httpx.Client = client) -> None:
                        answer = client.post("/v1/events/session-open?wait=true", json=body)
                        assert answer.status_code == 200, answer.text

                    rates = [load(post, 200, 4)[0] for _ in range(repeat)]
                trips = [trip * 1000 for trip in flow_round_trips(daemon, rounds)]
            finally:
                daemon.stop()
            print(f"{name:<10} c=4 events/s {spread(rates)}; flow round trip"
                  f" {spread(trips, ' ms')} over {rounds}")  # fmt: skip
    finally:
        server.close()


def commit_once(work_repo: WorkRepo, files: dict[str, str]) -> None:
    if any(not (work_repo.work / name).exists() for name in files):
        work_repo.commit(files)


def bench_flow(tmp: Path, work_repo: WorkRepo, rounds: int) -> None:
    """request -> approve -> escalated, with trivial hooks; against spawning the harness."""
    from hookrunner.flows.harness import EVENT_ENV, RESULT_ENV
    from hookrunner.flows.runner import HARNESS

    commit_once(work_repo, BENCH_FLOW)
    executor = {"interpreter": sys.executable}
    (tmp / "flow").mkdir()
    daemon = RunningDaemon(tmp / "flow", str(work_repo.bare), executor=executor,
                           log={"level": "warning"})  # fmt: skip
    daemon.start()
    impl = work_repo.work / "flows/bench/impl.py"
    result = tmp / "result.json"
    event = {"name": "approve", "user": {"email": "boss@example.com"}}
    env = {**os.environ, EVENT_ENV: json.dumps(event), RESULT_ENV: str(result)}
    baseline = []
    for _ in range(rounds):
        started = time.perf_counter()
        subprocess.run([sys.executable, str(HARNESS), str(impl), "on_approve"], env=env, check=True)
        baseline.append(time.perf_counter() - started)
    processes, per_process = 0, []
    try:
        trips = flow_round_trips(daemon, rounds)
        with daemon.client("read-token") as reader:
            runs = reader.get("/v1/runs", params={"limit": 1000}).json()["runs"]
            processes = len(runs) // rounds
            per_process = [run["duration_s"] for run in runs]
    finally:
        daemon.stop()
    trip = statistics.median(trips)
    spawn = statistics.median(baseline)
    print(f"flow round trip     {trip * 1000:7.1f} ms median ({processes} hook processes:"
          f" on_request, on_approve, escalate.runbook.py, after_escalate)")  # fmt: skip
    each = statistics.median(per_process)
    print(f"  each process      {each * 1000:7.1f} ms median in the daemon;"
          f" harness spawned directly {spawn * 1000:.1f} ms")  # fmt: skip
    print(f"  round trip / ({processes} x direct spawn) {trip / (processes * spawn):5.2f}x")


SLACK_FLOW = {
    "flows/slack/impl.py": (
        "from sym.sdk.annotations import reducer\n"
        "from sym.sdk.integrations import slack\n"
        "from sym.sdk.notifications import Notification\n\n\n"
        "@reducer\n"
        "def get_request_notifications(event):\n"
        '    return [Notification(destinations=[slack.channel("#access")])]\n'
    ),
    "flows/slack/flow.toml": 'approvers = ["boss@example.com"]\nintegrations = ["slack"]\n',
}


def bench_slack_click(tmp: Path, work_repo: WorkRepo, rounds: int) -> None:
    """A signed Approve click until the fake Slack's message shows the approval, against
    the same approval through the API (same hooks) until its answer."""
    from hookrunner_dev.fakes.slack import SIGNING_SECRET, FakeSlack, button_click, signed_form

    slack = FakeSlack().start()
    slack.add_user("U0BOSS", "boss@example.com", "boss")
    slack.add_channel("C0ACCESS", "access", ["U0BOSS"])
    work_repo.commit(SLACK_FLOW)
    (tmp / "slack").mkdir()
    (tmp / "slack" / "token").write_text(slack.token)
    (tmp / "slack" / "secret").write_text(SIGNING_SECRET)
    table = {"type": "slack", "api_url": slack.url, "token_file": str(tmp / "slack" / "token"),
             "signing_secret_file": str(tmp / "slack" / "secret")}  # fmt: skip
    daemon = RunningDaemon(tmp / "slack", str(work_repo.bare), log={"level": "warning"},
                           executor={"interpreter": sys.executable},
                           **{"integrations.slack": table})  # fmt: skip
    daemon.start()

    def announced(client: httpx.Client, n: int) -> tuple[str, int]:
        body = {"user": {"email": f"u{n}@example.com"}}
        request_id = client.post("/v1/flows/slack/requests", json=body).json()["id"]
        while not any(request_id in json.dumps(m.get("blocks")) for m in slack.messages):
            time.sleep(0.005)
        return request_id, len(slack.updates)

    clicks, api = [], []
    try:
        with daemon.client("flows-token") as client, daemon.client(None) as anonymous:
            for n in range(rounds):
                request_id, updates = announced(client, 2 * n)
                form = button_click(slack, "hookrunner_approve", request_id, "U0BOSS",
                                    "C0ACCESS", "")  # fmt: skip
                body, headers = signed_form(form)
                started = time.perf_counter()
                anonymous.post("/v1/webhooks/slack", content=body, headers=headers)
                while not any(request_id in json.dumps(u) and "Approved" in json.dumps(u)
                              for u in slack.updates[updates:]):  # fmt: skip
                    time.sleep(0.002)
                clicks.append(time.perf_counter() - started)
                request_id, _ = announced(client, 2 * n + 1)
                started = time.perf_counter()
                client.post(f"/v1/requests/{request_id}/approve",
                            json={"user": {"email": "boss@example.com"}})  # fmt: skip
                api.append(time.perf_counter() - started)
    finally:
        daemon.stop()
        slack.stop()
    print(f"slack click -> message updated  p50/p99 {milliseconds(clicks)}"
          f"  (API approve, same hooks: {milliseconds(api)}; {rounds} rounds)")  # fmt: skip


def spread(values: list[float], unit: str = "") -> str:
    """min/median/max of repeated runs: the machine's noise, next to the figure."""
    return (f"{min(values):.1f}/{statistics.median(values):.1f}/{max(values):.1f}{unit}"
            " (min/median/max)")  # fmt: skip


def bench_interpreter_flags(hook: Path, runs: int) -> None:
    """Interpreter start-up dominates a trivial hook: what each flag would save."""
    env = {"PATH": os.environ["PATH"], "HOOP_RUNBOOK_HOOK_PAYLOAD": "{}"}
    plain = timed([sys.executable, str(hook)], runs, env)[0]
    for flags in (["-I"], ["-S"], ["-I", "-S"], ["-X", "frozen_modules=on"]):
        flagged = timed([sys.executable, *flags, str(hook)], runs, env)[0]
        print(f"python3 {' '.join(flags):<22} {flagged * 1000:6.1f} ms"
              f"  vs no flags {plain * 1000:6.1f} ms  ratio {flagged / plain:4.2f}x")  # fmt: skip


def _webhook_tool(tmp: Path, hook: Path) -> subprocess.Popen[bytes] | None:
    """adnanh/webhook running the same hook the same way, if it is installed."""
    binary = shutil.which("webhook")
    if binary is None:
        return None
    hooks = [{
        "id": "session-open",
        "execute-command": sys.executable,
        "pass-arguments-to-command": [{"source": "string", "name": str(hook)}],
        "pass-environment-to-command": [
            {"source": "entire-payload", "envname": "HOOP_RUNBOOK_HOOK_PAYLOAD"}
        ],
        "include-command-output-in-response": True,
    }]  # fmt: skip
    (tmp / "hooks.json").write_text(json.dumps(hooks))
    port = free_port()
    process = subprocess.Popen(
        [binary, "-hooks", str(tmp / "hooks.json"), "-ip", "127.0.0.1", "-port", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    wait_for_port(port)
    process.url = f"http://127.0.0.1:{port}/hooks/session-open"  # type: ignore[attr-defined]
    return process


def bench_concurrency(tmp: Path, work_repo: WorkRepo, repeat: int) -> None:
    """?wait=true at concurrency 1, 4, 16 against spawning the hook directly (and webhook)."""
    tmp.mkdir()
    hook = work_repo.work / "hoop-hooks" / "session-open.runbook.py"
    executor = {"max_concurrency": 16, "interpreter": sys.executable}
    daemon = RunningDaemon(tmp, str(work_repo.bare), executor=executor, log={"level": "warning"})
    daemon.start()
    tool = _webhook_tool(tmp, hook)
    env = {**os.environ, "HOOP_RUNBOOK_HOOK_PAYLOAD": "{}"}
    body = {"sid": "b", "connection_name": "c"}

    def spawn(_n: int) -> None:
        subprocess.run([sys.executable, str(hook)], check=True, capture_output=True, env=env)

    try:
        with daemon.client("events-token") as client, httpx.Client(timeout=60) as plain:

            def post(n: int) -> None:
                answer = client.post("/v1/events/session-open?wait=true", json=body)
                assert answer.status_code == 200, answer.text

            def post_webhook(_n: int) -> None:
                assert plain.post(tool.url, json=body).status_code == 200  # type: ignore[union-attr]

            where_the_time_goes(client, body)
            for concurrency in (1, 4, 16):
                figures: dict[str, list[float]] = collections.defaultdict(list)
                for _ in range(repeat):
                    base_rate, base_lat = load(spawn, 200, concurrency)
                    rate, lat = load(post, 200, concurrency)
                    figures["ratio"].append(rate / base_rate)
                    figures["rate"].append(rate)
                    figures["p50"].append(percentile(lat, 0.5) * 1000)
                    figures["p99"].append(percentile(lat, 0.99) * 1000)
                    figures["base_p50"].append(percentile(base_lat, 0.5) * 1000)
                    if tool is not None:
                        tool_rate, _lat = load(post_webhook, 200, concurrency)
                        figures["vs_webhook"].append(rate / tool_rate)
                print(f"c={concurrency:<2} events/s {spread(figures['rate'])};"
                      f" vs spawn loop {spread(figures['ratio'], 'x')}")  # fmt: skip
                print(f"     p50 {spread(figures['p50'], ' ms')}"
                      f" p99 {spread(figures['p99'], ' ms')};"
                      f" spawn p50 {spread(figures['base_p50'], ' ms')}")  # fmt: skip
                if tool is not None:
                    print(f"     vs adnanh/webhook {spread(figures['vs_webhook'], 'x')}")
            if tool is None:
                print("     adnanh/webhook not installed: no comparison")
    finally:
        daemon.stop()
        if tool is not None:
            tool.terminate()


MODES = ("spawn", "warm")


def _ensure_webhook() -> None:
    """Install adnanh/webhook (Debian package ``webhook``) when it is missing."""
    if shutil.which("webhook") is None and shutil.which("apt-get") and os.geteuid() == 0:
        quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
        subprocess.run(["apt-get", "install", "-y", "-q", "webhook"], check=False, timeout=600,
                       **quiet)  # type: ignore[call-overload]  # fmt: skip


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _rss_with_forking_interpreters(pid: int) -> tuple[float, int]:
    """RSS of the daemon plus its forking interpreters (MiB), and how many there are; in
    the sandbox they are bubblewrap's children, and bubblewrap's RSS counts too."""
    total = process_stats(pid).rss_mib
    servers = 0
    pending = [pid]
    while pending:
        parent = pending.pop()
        for task in Path(f"/proc/{parent}/task").iterdir():
            with contextlib.suppress(OSError):
                for child in map(int, (task / "children").read_text().split()):
                    command = Path(f"/proc/{child}/cmdline").read_bytes().split(b"\0")
                    if any(arg.endswith(b"forkserver.py") for arg in command):
                        total += process_stats(child).rss_mib
                        if command[1].endswith(b"forkserver.py"):
                            servers += 1  # not its forked children: they share its pages
                        else:
                            pending.append(child)  # bubblewrap, around one
    return total, servers


def bench_modes(tmp: Path, work_repo: WorkRepo, repeat: int, events: int = 200) -> None:
    """spawn and warm side by side with adnanh/webhook, one run: the trivial session hook's
    p50 latency at c=1 and events/s at c=4 and 16 (?wait=true), the flow round trip,
    daemon CPU per event and RSS; each figure min/median/max of ``repeat`` runs. Both modes
    run in bubblewrap too (``+bwrap``), where the host has it."""
    tmp.mkdir()
    _ensure_webhook()
    commit_once(work_repo, BENCH_FLOW)
    hook = work_repo.work / "hoop-hooks" / "session-open.runbook.py"
    daemons = {}
    variants = {mode: {"mode": mode} for mode in MODES}
    if shutil.which("bwrap"):
        variants |= {f"{mode}+bwrap": {"mode": mode, "sandbox": "bwrap"} for mode in MODES}
    for name, executor in variants.items():
        (tmp / name).mkdir()
        daemons[name] = RunningDaemon(
            tmp / name, str(work_repo.bare), log={"level": "warning"},
            executor={"max_concurrency": 16, "interpreter": sys.executable, **executor},
        )  # fmt: skip
        daemons[name].start()
    tool = _webhook_tool(tmp, hook)
    body = {"sid": "b", "connection_name": "c"}
    figures: dict[str, list[float]] = collections.defaultdict(list)
    try:
        senders: dict[str, Callable[[int], None]] = {}
        clients = []
        for mode, daemon in daemons.items():
            client = daemon.client("events-token")
            clients.append(client)

            def post(_n: int, client: httpx.Client = client) -> None:
                answer = client.post("/v1/events/session-open?wait=true", json=body)
                assert answer.status_code == 200, answer.text

            senders[mode] = post
        if tool is not None:
            plain = httpx.Client(timeout=60)
            clients.append(plain)

            def post_webhook(_n: int) -> None:
                assert plain.post(tool.url, json=body).status_code == 200  # type: ignore[union-attr]

            senders["webhook"] = post_webhook
        for send in senders.values():
            load(send, 20, 4)  # warm up: the first run starts the forking interpreter
        for _ in range(repeat):
            for name, send in senders.items():
                pid = daemons[name].process.pid if name in daemons else None  # type: ignore[union-attr]
                cpu = _cpu_seconds(pid) if pid else 0.0
                _rate, latencies = load(send, events // 2, 1)
                figures[f"{name} p50"].append(percentile(latencies, 0.5) * 1000)
                for concurrency in (4, 16):
                    rate, _lat = load(send, events, concurrency)
                    figures[f"{name} c={concurrency}"].append(rate)
                if pid:
                    used = _cpu_seconds(pid) - cpu
                    figures[f"{name} cpu"].append(used / (events * 2 + events // 2) * 1000)
                    figures[f"{name} rss"].append(_rss_with_forking_interpreters(pid)[0])
            for mode, daemon in daemons.items():
                figures[f"{mode} flow"].append(
                    statistics.median(flow_round_trips(daemon, 10)) * 1000
                )
        for client in clients:
            client.close()
    finally:
        for daemon in daemons.values():
            daemon.stop()
        if tool is not None:
            tool.terminate()
    names = [*daemons, *(["webhook"] if tool is not None else [])]
    print("modes, min/median/max of", repeat, "runs:")
    for name in names:
        line = (f"  {name:<11} c=1 p50 {spread(figures[f'{name} p50'], ' ms')};"
                f" c=4 {spread(figures[f'{name} c=4'], ' ev/s')};"
                f" c=16 {spread(figures[f'{name} c=16'], ' ev/s')}")  # fmt: skip
        print(line)
        if name in daemons:
            print(f"              flow round trip {spread(figures[f'{name} flow'], ' ms')};"
                  f" daemon CPU/event {spread(figures[f'{name} cpu'], ' ms')};"
                  f" RSS daemon+forking {spread(figures[f'{name} rss'], ' MiB')}")  # fmt: skip
    if "warm+bwrap" in daemons:
        rate = [w / s for w, s in zip(figures["warm+bwrap c=4"], figures["spawn+bwrap c=4"],
                                      strict=True)]  # fmt: skip
        latency = [w / s for w, s in zip(figures["warm+bwrap p50"], figures["spawn+bwrap p50"],
                                         strict=True)]  # fmt: skip
        print(f"  in bwrap, warm/spawn: c=4 events/s {spread(rate, 'x')};"
              f" c=1 p50 {spread(latency, 'x')}")  # fmt: skip
    if tool is None:
        print("  adnanh/webhook not installed (apt-get install webhook): no comparison")
        return
    for mode in daemons:
        ratio = [m / w for m, w in zip(figures[f"{mode} c=4"], figures["webhook c=4"], strict=True)]
        latency = [
            m / w for m, w in zip(figures[f"{mode} p50"], figures["webhook p50"], strict=True)
        ]
        print(
            f"  {mode}/webhook: c=4 events/s {spread(ratio, 'x')}; c=1 p50 {spread(latency, 'x')}"
        )
    flow = [s / w for s, w in zip(figures["spawn flow"], figures["warm flow"], strict=True)]
    print(f"  flow round trip spawn/warm {spread(flow, 'x')}")


ISOLATION_VARIANTS = ("none", "cgroup", "sandbox", "both")


def _isolation(variant: str, snapshots: Path) -> Isolation:
    if variant == "none":
        return Isolation()
    return setup(
        "",
        "bwrap" if variant in ("sandbox", "both") else "none",
        "required" if variant in ("cgroup", "both") else "off",
        hidden=[],
        readable=[snapshots],
    )


def bench_isolation_spawn(hook: Path, runs: int) -> None:
    """One trivial hook through the executor, with and without cgroup and sandbox."""
    spec = RunSpec(argv=[sys.executable, str(hook)], cwd=hook.parent,
                   env={"HOOP_RUNBOOK_HOOK_PAYLOAD": "{}"}, timeout=30, kill_grace=1,
                   max_output_bytes=65536, limits=Limits(256, 1 << 30, 1 << 26))  # fmt: skip
    try:
        variants = {name: _isolation(name, hook.parent) for name in ISOLATION_VARIANTS}
    except IsolationUnavailable as exc:
        print(f"isolation spawn: skipped ({exc})")
        return
    walls: dict[str, list[float]] = collections.defaultdict(list)

    async def measure() -> None:
        for _ in range(runs):
            for name, isolation in variants.items():  # interleaved: same load for each
                started = time.perf_counter()
                outcome = await execute(spec, isolation)
                walls[name].append(time.perf_counter() - started)
                assert outcome.status == "succeeded", outcome.stderr

    asyncio.run(measure())
    for isolation in variants.values():
        isolation.close()
    for label, pick in (("median", statistics.median), ("min", min)):
        base = pick(walls["none"])
        line = f"none {base * 1000:5.1f} ms" + "".join(
            f"; {name} {pick(walls[name]) * 1000:5.1f} ms ({pick(walls[name]) / base:4.2f}x)"
            for name in ISOLATION_VARIANTS[1:]
        )
        print(f"isolation spawn {label:<6} {line}")


async def _placement(argv: list[str], preexec_fn: Callable[[], None] | None) -> tuple[float, float]:
    """Wall time of one spawn and how long the spawn call held the event loop."""
    loop = asyncio.get_running_loop()
    started = time.perf_counter()
    transport, _protocol = await loop.subprocess_exec(
        asyncio.SubprocessProtocol, *argv, stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
        start_new_session=True, preexec_fn=preexec_fn,
    )  # fmt: skip
    held = time.perf_counter() - started
    while transport.get_returncode() is None:
        await asyncio.sleep(0.0005)
    transport.close()
    return time.perf_counter() - started, held


def bench_cgroup_placement(runs: int) -> None:
    """How a child gets into its run cgroup before it runs hook code: an exec'd shell that
    writes itself into cgroup.procs (keeps vfork), against a preexec_fn (forces fork)."""
    try:
        tree = CgroupTree.setup()
    except IsolationUnavailable as exc:
        print(f"cgroup placement: skipped ({exc})")
        return
    true = shutil.which("true") or "/bin/true"
    figures: dict[str, list[tuple[float, float]]] = collections.defaultdict(list)

    async def measure() -> None:
        for _ in range(runs):
            figures["plain vfork"].append(await _placement([true], None))
            leaf = RunCgroup.create(tree, None)
            figures["sh wrapper"].append(await _placement(leaf.enter([true]), None))
            leaf.kill()
            leaf.remove()
            leaf = RunCgroup.create(tree, None)
            procs = str(leaf.path / "cgroup.procs")

            def enter(procs: str = procs) -> None:
                with open(procs, "w") as handle:
                    handle.write("0")

            figures["preexec_fn"].append(await _placement([true], enter))
            leaf.kill()
            leaf.remove()

    asyncio.run(measure())
    tree.close()
    line = "; ".join(
        f"{name} {statistics.median(w for w, _h in samples) * 1000:5.2f} ms"
        f" (loop held {statistics.median(h for _w, h in samples) * 1000:5.2f} ms)"
        for name, samples in figures.items()
    )
    print(f"cgroup placement    {line}")


def bench_isolation_throughput(tmp: Path, work_repo: WorkRepo, repeat: int) -> None:
    """Events/s at concurrency 4 without (cgroup off, no sandbox) and with both."""
    tmp.mkdir()
    rates: dict[str, list[float]] = collections.defaultdict(list)
    daemons = {}
    for name, executor in {
        "without": {"cgroup": "off", "sandbox": "none"},
        "with": {"cgroup": "auto", "sandbox": "auto"},
    }.items():
        (tmp / name).mkdir()
        daemons[name] = RunningDaemon(
            tmp / name, str(work_repo.bare), log={"level": "warning"},
            executor={"max_concurrency": 4, "interpreter": sys.executable, **executor},
        )  # fmt: skip
        daemons[name].start()
    body = {"sid": "b", "connection_name": "c"}
    try:
        for _ in range(repeat):
            for name, daemon in daemons.items():
                with daemon.client("events-token") as client:

                    def post(_n: int, client: httpx.Client = client) -> None:
                        answer = client.post("/v1/events/session-open?wait=true", json=body)
                        assert answer.status_code == 200, answer.text

                    rate, _lat = load(post, 200, 4)
                    rates[name].append(rate)
        with daemons["with"].client("read-token") as reader:
            isolation = reader.get("/v1/status").json()["isolation"]
    finally:
        for daemon in daemons.values():
            daemon.stop()
    ratio = [w / o for w, o in zip(rates["with"], rates["without"], strict=True)]
    print(f"c=4 events/s without isolation {spread(rates['without'])};"
          f" with sandbox={isolation['sandbox']} cgroup={isolation['cgroup']}"
          f" {spread(rates['with'])}; ratio {spread(ratio, 'x')}")  # fmt: skip


def where_the_time_goes(client: httpx.Client, body: dict[str, str], events: int = 100) -> None:
    """One ?wait event at a time, split by the run record's timestamps (same host clock)."""
    parts: dict[str, list[float]] = collections.defaultdict(list)
    for _ in range(events):
        sent = time.time()
        run = client.post("/v1/events/session-open?wait=true", json=body).json()["runs"][0]
        answered = time.time()
        hook_ended = run["started_at"] + run["duration_s"]
        parts["intake"].append(run["created_at"] - sent)
        parts["queue"].append(run["started_at"] - run["created_at"])
        parts["hook"].append(run["duration_s"])
        parts["after"].append(answered - hook_ended)
        parts["total"].append(answered - sent)
    medians = ", ".join(f"{name} {statistics.median(v) * 1000:.1f}" for name, v in parts.items())
    print(f"one ?wait event, medians in ms: {medians}")


def signed_push(client: httpx.Client, delivery: str) -> None:
    body = json.dumps({"ref": "refs/heads/main"}).encode()
    digest = hmac.new(GIT_SECRET.encode(), body, hashlib.sha256).hexdigest()
    client.post("/v1/webhooks/git", content=body, headers={
        "X-Hub-Signature-256": f"sha256={digest}", "X-GitHub-Delivery": delivery,
    })  # fmt: skip


def bench_push_to_live(tmp: Path, work_repo: WorkRepo) -> None:
    """From a signed push webhook to the first event served by the new commit."""
    tmp.mkdir()
    work_repo.echo_hook(1)
    executor = {"interpreter": sys.executable}
    daemon = RunningDaemon(tmp, str(work_repo.bare), executor=executor, log={"level": "warning"})
    daemon.start()
    samples = []
    try:
        with daemon.client("events-token") as events, httpx.Client(base_url=daemon.url) as hooks:
            for version in range(2, 7):
                work_repo.echo_hook(version)
                started = time.perf_counter()
                signed_push(hooks, f"push-{version}")
                while True:
                    answer = events.post("/v1/events/session-open?wait=true",
                                         json={"sid": "p", "connection_name": "c"})  # fmt: skip
                    if json.loads(answer.json()["runs"][0]["stdout"])["version"] == version:
                        break
                samples.append((time.perf_counter() - started) * 1000)
    finally:
        daemon.stop()
    print(f"push-to-live        {spread(samples, ' ms')} over {len(samples)} pushes")


ENV_HOOK = "import hrtiny, os\nos.environ['HOOP_RUNBOOK_HOOK_PAYLOAD']\nprint(hrtiny.VERSION)\n"


def bench_environments(tmp: Path, rounds: int) -> None:
    """Push to live with a new environment (cold) and a cached one; event latency while an
    environment builds against none building, in the same daemon."""
    tmp.mkdir()
    wheels = tmp / "wheels"
    for version in range(1, rounds + 2):
        build_package(tmp / "src", wheels, "hrtiny", f"{version}.0")
    build_package(tmp / "src", wheels, "hrslow", "1.0", sdist=True, delay=5.0)
    repo = WorkRepo(tmp / "git")
    repo.commit({"hoop-hooks/session-open.runbook.py": ENV_HOOK,
                 "hoop-hooks/requirements.txt": "hrtiny==1.0\n"})  # fmt: skip
    environments = {"find_links": [str(wheels)], "no_index": True, "allow_source_builds": True}
    daemon = RunningDaemon(
        tmp, str(repo.bare), executor={"interpreter": sys.executable},
        environments=environments, log={"level": "warning"},
    )  # fmt: skip
    daemon.start()
    cold, cached, idle, building = [], [], [], []
    try:
        with daemon.client("events-token") as events, httpx.Client(base_url=daemon.url) as hooks:

            def event() -> str:
                answer = events.post("/v1/events/session-open?wait=true",
                                     json={"sid": "e", "connection_name": "c"})  # fmt: skip
                return str(answer.json()["runs"][0]["stdout"]).strip()

            def push_to_live(version: int, hook_note: str) -> float:
                """Commit, push, and time until an event runs on the commit."""
                hook = ENV_HOOK + f"print({hook_note!r})\n"
                repo.commit({"hoop-hooks/session-open.runbook.py": hook,
                             "hoop-hooks/requirements.txt": f"hrtiny=={version}.0\n"})  # fmt: skip
                started = time.perf_counter()
                signed_push(hooks, f"env-{version}-{hook_note}")
                while event() != f"{version}.0\n{hook_note}":
                    pass
                return (time.perf_counter() - started) * 1000

            for version in range(2, rounds + 2):
                cold.append(push_to_live(version, "new requirements"))
                cached.append(push_to_live(version, "same requirements"))
            for _ in range(200):
                started = time.perf_counter()
                event()
                idle.append(time.perf_counter() - started)
            repo.commit({"hoop-hooks/session-open.runbook.py": ENV_HOOK,
                         "hoop-hooks/requirements.txt": "hrslow==1.0\nhrtiny==1.0\n"})  # fmt: skip
            signed_push(hooks, "env-slow")
            while True:
                started = time.perf_counter()
                answer = event()
                if answer == "1.0":  # hrslow's environment is live
                    break
                building.append(time.perf_counter() - started)
    finally:
        daemon.stop()
    print(f"push-to-live, new environment (cold)  {spread(cold, ' ms')} over {len(cold)} pushes")
    print(f"push-to-live, cached environment      {spread(cached, ' ms')} over {len(cached)}"
          " pushes")  # fmt: skip
    print(f"event p50/p99 with no build {milliseconds(idle)} ({len(idle)} events);"
          f" during a 5 s build {milliseconds(building)} ({len(building)} events)")  # fmt: skip


def bench_stalled_git(tmp: Path, work_repo: WorkRepo) -> None:
    """A git server that accepts and never answers: events must not wait past refresh_wait."""
    tmp.mkdir()
    git_daemon = GitDaemon(work_repo.bare.parent)
    git_daemon.start()
    refresh_wait = 1.0
    daemon = RunningDaemon(
        tmp, git_daemon.url("remote.git"), executor={"interpreter": sys.executable},
        repo={"ttl": 0.2, "refresh_wait": refresh_wait, "fetch_timeout": 600},
        log={"level": "warning"},
    )  # fmt: skip
    daemon.start()
    git_daemon.stop()
    latencies, hook_times = [], []
    try:
        with stalled_server(git_daemon.port) as held, daemon.client("events-token") as events:
            for n in range(50):
                started = time.perf_counter()
                answer = events.post("/v1/events/session-open?wait=true",
                                     json={"sid": f"s{n}", "connection_name": "c"})  # fmt: skip
                latencies.append(time.perf_counter() - started)
                hook_times.append(answer.json()["runs"][0]["duration_s"])
                time.sleep(0.25)  # let the TTL lapse, so every event meets a stalled refresh
    finally:
        daemon.stop()
    bound = refresh_wait + max(hook_times)
    print(f"stalled git: p50/p99 {milliseconds(latencies)}; bound refresh_wait + hook"
          f" {bound * 1000:.0f} ms; held connections {len(held)}")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument("--events", type=int, default=10000)
    parser.add_argument("--syncs", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3, help="runs per throughput figure")
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--only", choices=["modes", "slack", "journals"], help="run one figure")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="hookrunner-bench-") as scratch:
        tmp = Path(scratch)
        work_repo = WorkRepo(tmp / "git")
        work_repo.commit({"hoop-hooks/session-open.runbook.py": TRIVIAL_HOOK})
        hook = work_repo.work / "hoop-hooks" / "session-open.runbook.py"
        if args.only == "modes":
            bench_modes(tmp / "modes", work_repo, args.repeat)
            return
        if args.only == "slack":
            bench_slack_click(tmp, work_repo, args.runs)
            return
        if args.only == "journals":
            bench_journals(tmp / "journals", work_repo, args.repeat, args.runs)
            return
        bench_modes(tmp / "modes", work_repo, args.repeat)
        bench_interpreter_flags(hook, args.runs)
        bench_dry_run(work_repo.work, args.runs)
        bench_git_calls(work_repo.bare, tmp / "state")
        bench_isolation_spawn(hook, args.runs)
        bench_cgroup_placement(args.runs * 5)
        bench_isolation_throughput(tmp / "isolation", work_repo, args.repeat)
        bench_concurrency(tmp / "concurrency", work_repo, args.repeat)
        bench_push_to_live(tmp / "push", work_repo)
        bench_stalled_git(tmp / "stalled", work_repo)
        bench_environments(tmp / "environments", args.runs // 4)
        bench_leaks(tmp / "leaks", work_repo, args.events, args.syncs)
        bench_flow(tmp, work_repo, args.runs)
        bench_slack_click(tmp, work_repo, args.runs)
        bench_integration_calls(tmp / "integrations", args.runs * 10)
        bench_journals(tmp / "journals", work_repo, args.repeat, args.runs)


if __name__ == "__main__":
    main()
