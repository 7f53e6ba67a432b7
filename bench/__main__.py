"""``make bench``: figures as ratios against a baseline measured in the same run.

Not run by CI. Every figure talks only to 127.0.0.1 and stops by itself. It reuses the
test suite's real-git and real-daemon harness rather than a second copy of it.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from conftest import WorkRepo
from daemon_harness import RunningDaemon

from hookrunner.config import RepoSettings
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


def process_stats(pid: int) -> tuple[float, int]:
    rss_kib = next(
        int(line.split()[1]) for line in Path(f"/proc/{pid}/status").read_text().splitlines()
        if line.startswith("VmRSS:")
    )  # fmt: skip
    return rss_kib / 1024, len(os.listdir(f"/proc/{pid}/fd"))


def bench_daemon(tmp: Path, work_repo: WorkRepo, events: int, syncs: int) -> None:
    executor = {"max_concurrency": 4, "interpreter": sys.executable}  # as the baseline uses
    daemon = RunningDaemon(tmp, str(work_repo.bare), executor=executor, log={"level": "warning"})
    daemon.start()
    assert daemon.process is not None
    pid = daemon.process.pid
    try:
        time.sleep(1)
        idle_rss, idle_fds = process_stats(pid)
        print(f"daemon idle RSS     {idle_rss:8.1f} MiB, {idle_fds} fds")
        hook = work_repo.work / "hoop-hooks" / "session-open.runbook.py"
        env = {**os.environ, "HOOP_RUNBOOK_HOOK_PAYLOAD": "{}"}

        def spawn(_n: int) -> None:
            subprocess.run([sys.executable, str(hook)], check=True, capture_output=True, env=env)

        with daemon.client("events-token") as client:

            def post(n: int) -> None:
                answer = client.post("/v1/events/session-open?wait=true",
                                     json={"sid": f"b{n}", "connection_name": "c"})  # fmt: skip
                assert answer.status_code == 200, answer.text

            base_rate, base_lat = load(spawn, 400, 4)
            rate, lat = load(post, 400, 4)
            print(f"events/s (c=4, wait) {rate:7.1f}  python3 hook.py loop {base_rate:7.1f}"
                  f"  ratio {rate / base_rate:5.2f}x")  # fmt: skip
            print(f"latency p50/p99     {milliseconds(lat)}  baseline {milliseconds(base_lat)}")
            before = process_stats(pid)
            load(post, events, 4)
        with daemon.client("admin-token") as admin:
            for _ in range(syncs):
                assert admin.post("/v1/sync").status_code == 200
        after = process_stats(pid)
        print(f"after {events} events + {syncs} syncs: RSS {before[0]:.1f} -> {after[0]:.1f} MiB,"
              f" fds {before[1]} -> {after[1]}")  # fmt: skip
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


def bench_flow(tmp: Path, work_repo: WorkRepo, rounds: int) -> None:
    """request -> approve -> escalated, with trivial hooks; against spawning the harness."""
    from hookrunner.flows.harness import EVENT_ENV, RESULT_ENV
    from hookrunner.flows.runner import HARNESS

    work_repo.commit(BENCH_FLOW)
    executor = {"interpreter": sys.executable}
    (tmp / "flow").mkdir()
    daemon = RunningDaemon(tmp / "flow", str(work_repo.bare), executor=executor,
                           log={"level": "warning"})  # fmt: skip
    daemon.start()
    impl = work_repo.work / "flows/bench/impl.py"
    result = tmp / "result.json"
    env = {**os.environ, EVENT_ENV: '{"name": "approve"}', RESULT_ENV: str(result)}
    baseline = []
    for _ in range(rounds):
        started = time.perf_counter()
        subprocess.run([sys.executable, str(HARNESS), str(impl), "on_approve"], env=env, check=True)
        baseline.append(time.perf_counter() - started)
    trips, processes, per_process = [], 0, []
    try:
        with daemon.client("flows-token") as client, daemon.client("read-token") as reader:
            for n in range(rounds):
                started = time.perf_counter()
                opened = client.post("/v1/flows/bench/requests",
                                     json={"user": {"email": f"u{n}@example.com"}})  # fmt: skip
                approved = client.post(f"/v1/requests/{opened.json()['id']}/approve",
                                       json={"user": {"email": "boss@example.com"}})  # fmt: skip
                trips.append(time.perf_counter() - started)
                assert approved.json()["state"] == "escalated", approved.text
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


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument("--events", type=int, default=5000)
    parser.add_argument("--syncs", type=int, default=500)
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="hookrunner-bench-") as scratch:
        tmp = Path(scratch)
        work_repo = WorkRepo(tmp / "git")
        work_repo.commit({"hoop-hooks/session-open.runbook.py": TRIVIAL_HOOK})
        bench_dry_run(work_repo.work, args.runs)
        bench_git_calls(work_repo.bare, tmp / "state")
        bench_daemon(tmp, work_repo, args.events, args.syncs)
        bench_flow(tmp, work_repo, args.runs)


if __name__ == "__main__":
    main()
