"""The executor with real subprocesses: environment, limits, timeouts, output bounds."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from hookrunner.execution import Isolation, Limits, Outcome, RunSpec, execute, hook_environment
from hookrunner.execution.limits import PRLIMIT

LIMITS = Limits(max_processes=4096, max_memory_bytes=1 << 30, max_file_bytes=1 << 26)


def spec_for(
    tmp_path: Path,
    source: str,
    *,
    timeout: float = 20,
    env: dict[str, str] | None = None,
    **kw: object,
) -> RunSpec:
    script = tmp_path / "hook.py"
    script.write_text(textwrap.dedent(source))
    return RunSpec(
        argv=[sys.executable, str(script)],
        cwd=tmp_path,
        env=env if env is not None else hook_environment(["PATH"], {}, {}),
        timeout=timeout,
        kill_grace=kw.pop("kill_grace", 1.0),  # type: ignore[arg-type]
        max_output_bytes=kw.pop("max_output_bytes", 65536),  # type: ignore[arg-type]
        limits=LIMITS,
        **kw,  # type: ignore[arg-type]
    )


def run_hook(spec: RunSpec) -> Outcome:
    """Run ``spec`` as ``dry-run`` does: no sandbox or cgroup, the account switch only."""
    return asyncio.run(execute(spec, Isolation()))


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is dead for our purpose.
    return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"


def test_parent_environment_never_reaches_the_hook(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOOKRUNNER_SERVER_TOKEN", "s3cret-token")
    monkeypatch.setenv("LANG", "C.UTF-8")
    env = hook_environment(
        ["PATH", "LANG"], {"SIEM_URL": "https://siem.test"}, {"HOOKRUNNER_EVENT": "x"}
    )
    outcome = run_hook(
        spec_for(tmp_path, "import os, json; print(json.dumps(dict(os.environ)))", env=env)
    )
    seen = json.loads(outcome.stdout)
    assert "HOOKRUNNER_SERVER_TOKEN" not in seen
    assert "s3cret-token" not in outcome.stdout
    assert seen["LANG"] == "C.UTF-8" and seen["SIEM_URL"] == "https://siem.test"
    assert seen["HOOKRUNNER_EVENT"] == "x"


def test_stdin_is_dev_null_and_cwd_is_set(tmp_path: Path) -> None:
    outcome = run_hook(
        spec_for(tmp_path, "import os, sys; print(repr(sys.stdin.read()), os.getcwd())")
    )
    assert outcome.stdout.strip() == f"'' {tmp_path}"


def test_exit_codes_map_to_statuses(tmp_path: Path) -> None:
    results = {
        code: run_hook(spec_for(tmp_path, f"raise SystemExit({code})")) for code in (0, 1, 75)
    }
    assert results[0].status == "succeeded"
    assert results[1].status == "failed" and results[1].exit_code == 1
    assert results[75].status == "tempfail" and results[75].exit_code == 75


def test_missing_interpreter_is_a_failed_run(tmp_path: Path) -> None:
    spec = spec_for(tmp_path, "")
    broken = RunSpec(**{**spec.__dict__, "argv": ["/nonexistent/python3", "hook.py"]})
    outcome = run_hook(broken)
    assert outcome.status == "failed" and "cannot start" in outcome.stderr


def test_timeout_kills_hook_and_its_grandchild(tmp_path: Path) -> None:
    pid_file = tmp_path / "grandchild.pid"
    source = f"""
        import subprocess, sys, time
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
        open({str(pid_file)!r}, "w").write(str(child.pid))
        time.sleep(600)
    """
    started = time.monotonic()
    outcome = run_hook(spec_for(tmp_path, source, timeout=1.5, kill_grace=0.5))
    assert outcome.status == "timed_out"
    assert time.monotonic() - started < 15
    grandchild = int(pid_file.read_text())
    deadline = time.monotonic() + 5
    while alive(grandchild) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not alive(grandchild)


def test_daemonized_grandchild_holding_pipes_does_not_hang(tmp_path: Path) -> None:
    pid_file = tmp_path / "daemon.pid"
    source = f"""
        import os, time
        if os.fork() == 0:
            os.setsid()
            if os.fork() == 0:
                open({str(pid_file)!r}, "w").write(str(os.getpid()))
                time.sleep(600)  # keeps stdout/stderr open
            os._exit(0)
        time.sleep(0.3)
        print("parent done")
    """
    started = time.monotonic()
    outcome = run_hook(spec_for(tmp_path, source, timeout=30))
    assert outcome.status == "succeeded" and "parent done" in outcome.stdout
    assert time.monotonic() - started < 10
    escaped = int(pid_file.read_text())
    deadline = time.monotonic() + 5
    while alive(escaped) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not alive(escaped), "a setsid grandchild must not outlive its hook"


def test_large_output_is_capped_with_head_and_tail(tmp_path: Path) -> None:
    source = """
        import sys
        sys.stdout.write("HEAD\\n")
        chunk = "x" * 1023 + "\\n"
        for _ in range(50 * 1024):
            sys.stdout.write(chunk)
        sys.stdout.write("TAIL\\n")
        sys.stderr.write("err\\n")
    """
    outcome = run_hook(spec_for(tmp_path, source, max_output_bytes=65536))
    assert outcome.status == "succeeded" and outcome.truncated
    assert outcome.stdout.startswith("HEAD\n") and outcome.stdout.endswith("TAIL\n")
    assert "bytes dropped" in outcome.stdout
    assert len(outcome.stdout.encode()) < 65536 + 200
    assert outcome.stderr == "err\n"


def test_fifty_megabytes_of_output_keeps_memory_bounded(tmp_path: Path) -> None:
    """Measured in a fresh interpreter so earlier tests' peaks do not hide growth."""
    probe = textwrap.dedent(
        f"""
        import resource, sys
        sys.path.insert(0, {str(Path(__file__).parent)!r})
        from test_executor import run_hook, spec_for
        from pathlib import Path
        size = int(sys.argv[1])
        source = f"import sys\\nfor _ in range({{size}}): sys.stdout.write('y' * 1048575 + chr(10))"
        outcome = run_hook(spec_for(Path({str(tmp_path)!r}), source))
        assert outcome.status == "succeeded", outcome
        print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
        """
    )
    rss = {
        size: int(subprocess.run([sys.executable, "-c", probe, str(size)], check=True,
                                 capture_output=True, text=True).stdout)
        for size in (0, 50)
    }  # fmt: skip
    growth_kib = rss[50] - rss[0]
    assert growth_kib < 20 * 1024, f"RSS grew by {growth_kib} KiB for 50 MB of hook output"


def test_private_files_are_written_and_collected(tmp_path: Path) -> None:
    source = """
        import os
        data = open(os.environ["INPUT_FILE"]).read()
        open(os.environ["RESULT_FILE"], "w").write(data.upper())
        print(oct(os.stat(os.environ["INPUT_FILE"]).st_mode & 0o777))
    """
    spec = spec_for(
        tmp_path,
        source,
        files={"INPUT_FILE": b"hello", "RESULT_FILE": b""},
        collect=("RESULT_FILE",),
    )
    outcome = run_hook(spec)
    assert outcome.stdout.strip() == "0o600"
    assert outcome.collected == {"RESULT_FILE": b"HELLO"}


def test_file_size_limit_applies(tmp_path: Path) -> None:
    spec = spec_for(tmp_path, "open('big', 'wb').write(b'x' * (2 << 20))")
    limited = RunSpec(**{**spec.__dict__, "limits": LIMITS._replace(max_file_bytes=1 << 20)})
    outcome = run_hook(limited)
    assert outcome.status == "failed"
    assert (tmp_path / "big").stat().st_size <= 1 << 20


LIMITS_PROBE = """
import json, resource
names = ("RLIMIT_NPROC", "RLIMIT_DATA", "RLIMIT_FSIZE", "RLIMIT_CORE")
print(json.dumps({name: resource.getrlimit(getattr(resource, name)) for name in names}))
"""


@pytest.mark.skipif(PRLIMIT is None, reason="prlimit(1) (util-linux) is not installed")
def test_prlimit_and_preexec_launches_set_the_same_limits() -> None:
    wanted = Limits(max_processes=321, max_memory_bytes=1 << 29, max_file_bytes=1 << 20)
    seen = []
    for launch in (wanted.launch([sys.executable, "-c", LIMITS_PROBE], prlimit)
                   for prlimit in (PRLIMIT, None)):  # fmt: skip
        probe = subprocess.run(launch.argv, preexec_fn=launch.preexec_fn,
                               capture_output=True, text=True, check=True)  # fmt: skip
        seen.append(json.loads(probe.stdout))
    assert (
        seen[0]
        == seen[1]
        == {
            "RLIMIT_NPROC": [321, 321],
            "RLIMIT_DATA": [1 << 29, 1 << 29],
            "RLIMIT_FSIZE": [1 << 20, 1 << 20],
            "RLIMIT_CORE": [0, 0],
        }
    )
