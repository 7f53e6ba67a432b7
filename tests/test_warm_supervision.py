"""The forking interpreter is replaced when it dies or has forked enough, and a run it
cannot fork is spawned instead: no accepted run fails because of it."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_warm_equivalence import Runner, needs_cgroups

from hookrunner.execution import Isolation, RunSpec, WarmPolicy, execute
from hookrunner.execution.isolation import setup as isolation_setup

PARENT = "import json, os\nprint(json.dumps(os.getppid()))\n"


@pytest.fixture
def isolation() -> Iterator[Isolation]:
    """Its own forking interpreters, so each test counts its own forks."""
    needs_cgroups()
    isolation = isolation_setup("", "none", "required", [], [])
    yield isolation
    isolation.close()


def gone(pid: int) -> bool:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z":
                return True  # dead, not yet reaped by the daemon
        except FileNotFoundError:
            return True
        time.sleep(0.05)
    return False


def test_a_killed_forking_interpreter_is_replaced(
    isolation: Isolation,
    tmp_path: Path,
) -> None:
    runner = Runner(isolation, "warm", tmp_path)
    first = runner.seen(PARENT)
    os.kill(first, signal.SIGKILL)
    assert gone(first) or pytest.fail("the forking interpreter did not die")
    outcome = runner.run(PARENT)  # forked by a fresh interpreter (or spawned, never failed)
    assert outcome.status == "succeeded", outcome.stderr
    assert int(outcome.stdout) != first


def test_it_is_replaced_after_max_forks(isolation: Isolation, tmp_path: Path) -> None:
    runner = Runner(isolation, "warm", tmp_path)
    policy = WarmPolicy(max_forks=2)
    parents = [runner.seen(PARENT, warm=policy) for _ in range(3)]
    assert parents[0] == parents[1] != parents[2]


def test_it_is_replaced_after_max_age(isolation: Isolation, tmp_path: Path) -> None:
    runner = Runner(isolation, "warm", tmp_path)
    policy = WarmPolicy(max_age=1.0)
    first = runner.seen(PARENT, warm=policy)
    time.sleep(1.5)
    assert runner.seen(PARENT, warm=policy) != first


def test_an_interpreter_that_cannot_fork_runs_the_hook_spawned(
    isolation: Isolation,
    tmp_path: Path,
) -> None:
    fake = tmp_path / "not-python"
    fake.write_text('#!/bin/sh\necho "ran $1"\n')
    fake.chmod(0o755)
    spec = Runner(isolation, "warm", tmp_path).spec("")
    spec = type(spec)(**{**spec.__dict__, "argv": [str(fake), spec.argv[1]]})
    outcome = asyncio.run(execute(spec, isolation))
    assert outcome.status == "succeeded" and outcome.mode == "spawn"
    assert outcome.stdout == f"ran {spec.argv[1]}\n"


def test_it_is_replaced_when_its_interpreter_file_changes(
    isolation: Isolation, tmp_path: Path
) -> None:
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--copies", "--without-pip", str(venv)],
                   check=True, timeout=120)  # fmt: skip
    python = venv / "bin" / "python"
    runner = Runner(isolation, "warm", tmp_path)

    def parent() -> int:
        spec = runner.spec(PARENT)
        spec = RunSpec(**{**spec.__dict__, "argv": [str(python), *spec.argv[1:]]})
        outcome = asyncio.run(execute(spec, isolation))
        assert outcome.status == "succeeded" and outcome.mode == "warm", outcome.stderr
        return int(outcome.stdout)

    first = parent()
    assert parent() == first
    info = python.stat()
    os.utime(python, ns=(info.st_atime_ns, info.st_mtime_ns + 1_000_000_000))  # an upgrade
    assert parent() != first
