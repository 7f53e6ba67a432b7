"""What an integration call from a flow hook costs through the daemon's channel.

One hook process, started by a real daemon, times three kinds of call against the local
Slack fake (``users.lookupByEmail``): straight to the fake over HTTP (the baseline: what
a hook holding the token would do), through the channel for a person not asked about
before (the daemon's HTTP call included), and through the channel again (the daemon's
cache answers).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from conftest import WorkRepo
from daemon_harness import RunningDaemon

from hookrunner_dev.fakes.slack import FakeSlack

TIMING_HOOK = """
import json
import time
import urllib.parse
import urllib.request

from sym.sdk.annotations import hook
from sym.sdk.integrations import _call


def timed(call, rounds):
    samples = []
    for n in range(rounds):
        started = time.perf_counter()
        call(n)
        samples.append(time.perf_counter() - started)
    return samples


@hook
def after_request(event):
    settings = event.flow.vars
    rounds, url, token = settings["rounds"], settings["url"], settings["token"]
    client = _call._channel_client()

    def direct(n):
        query = urllib.parse.urlencode({"email": f"p{n}@example.com"})
        request = urllib.request.Request(
            f"{url}users.lookupByEmail?{query}", headers={"Authorization": f"Bearer {token}"}
        )
        with urllib.request.urlopen(request) as answer:
            json.loads(answer.read())

    def channel(n):
        client.call("slack", "get_user_info", {"user": f"p{n}@example.com"})

    figures = {
        "direct": timed(direct, rounds),
        "uncached": timed(channel, rounds),
        "cached": timed(channel, rounds),
    }
    print(json.dumps(figures))
"""


def percentiles(samples: list[float]) -> str:
    ordered = sorted(samples)

    def at(fraction: float) -> float:
        return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] * 1000

    return f"{at(0.5):6.2f}/{at(0.99):6.2f} ms"


def bench_integration_calls(tmp: Path, rounds: int) -> None:
    """p50/p99 of an integration call from a hook: direct, uncached, cached."""
    fake = FakeSlack()
    for n in range(rounds):
        fake.add_user(f"U{n:07d}", f"p{n}@example.com", f"p{n}")
    fake.start()
    tmp.mkdir()
    (tmp / "slack-token").write_text(fake.token)
    vars_toml = f'rounds = {rounds}\nurl = "{fake.url}"\ntoken = "{fake.token}"\n'
    work_repo = WorkRepo(tmp / "git")
    work_repo.commit(
        {
            "flows/timing/impl.py": TIMING_HOOK,
            "flows/timing/flow.toml": f'integrations = ["slack"]\n\n[vars]\n{vars_toml}',
        }
    )
    integrations = {"slack": {"type": "slack", "token_file": str(tmp / "slack-token"),
                              "api_url": fake.url}}  # fmt: skip
    daemon = RunningDaemon(tmp, str(work_repo.bare), executor={"interpreter": sys.executable,
                           "timeout": 300}, integrations=integrations,
                           log={"level": "warning"})  # fmt: skip
    daemon.start()
    try:
        with daemon.client("flows-token") as client, daemon.client("read-token") as reader:
            opened = client.post("/v1/flows/timing/requests",
                                 json={"user": {"email": "dev@example.com"}})  # fmt: skip
            assert opened.status_code == 201, opened.text
            runs = reader.get("/v1/runs", params={"limit": 100}).json()["runs"]
        run = next(r for r in runs if r["hook"] == "timing/after_request")
        assert run["status"] == "succeeded", run["stderr"]
        figures = json.loads(run["stdout"].strip().splitlines()[-1])
    finally:
        daemon.stop()
        fake.stop()
    direct = sorted(figures["direct"])[len(figures["direct"]) // 2]
    print(f"integration call from a hook, p50/p99 over {rounds} calls (Slack fake):")
    for name, label in (("direct", "direct HTTP (baseline)"), ("uncached", "channel, uncached"),
                        ("cached", "channel, cached")):  # fmt: skip
        median = sorted(figures[name])[len(figures[name]) // 2]
        print(f"  {label:24} {percentiles(figures[name])}   {median / direct:5.2f}x baseline")
