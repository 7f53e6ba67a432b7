"""What a hook observes is the same whether it was spawned or forked warm (DESIGN §5).

Every test runs in both modes, and warm mode also in bubblewrap (each forked run in
namespaces of its own), with a real run cgroup (warm mode moves its children into one),
and checks the observable against what ``python FILE`` gives, not against the other
mode. A warm run must really have been forked: ``outcome.mode`` says so.
"""

from __future__ import annotations

import asyncio
import json
import os
import pwd
import shutil
import signal
import sys
import tempfile
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from hookrunner.execution import Isolation, Limits, Outcome, RunSpec, WarmPolicy, execute
from hookrunner.execution.cgroups import CgroupTree
from hookrunner.execution.errors import IsolationUnavailable
from hookrunner.execution.isolation import setup as isolation_setup

LIMITS = Limits(max_processes=300, max_memory_bytes=900 << 20, max_file_bytes=50 << 20)
ENV = {"PATH": os.defpath, "LANG": "C.UTF-8", "TZ": "Asia/Kolkata", "SIEM_URL": "https://x"}
MODES = ["spawn", "warm"]
IN_BWRAP = "warm-in-bwrap"


def needs_cgroups() -> None:
    try:
        CgroupTree.setup().close()
    except IsolationUnavailable as exc:
        pytest.skip(f"warm mode needs a writable cgroup v2 tree: {exc}")


@pytest.fixture(scope="module")
def isolation() -> Iterator[Isolation]:
    needs_cgroups()
    isolation = isolation_setup("", "none", "required", [], [])
    yield isolation
    isolation.close()


@pytest.fixture(scope="module")
def shown() -> Iterator[Path]:
    """Where sandboxed hooks live: shown to them read-only, as their snapshots are."""
    base = Path(tempfile.mkdtemp(prefix="hookrunner-warm-"))
    base.chmod(0o755)
    yield base
    shutil.rmtree(base)


@pytest.fixture(scope="module")
def sandboxed(shown: Path) -> Iterator[Isolation]:
    needs_cgroups()
    if shutil.which("bwrap") is None:
        pytest.skip("bubblewrap (bwrap) is not installed")
    isolation = isolation_setup("", "bwrap", "required", [], [shown])
    yield isolation
    isolation.close()


class Runner:
    def __init__(
        self, isolation: Isolation, mode: str, directory: Path, program: str = sys.executable
    ) -> None:
        self.isolation = isolation
        self.mode = mode
        self.directory = directory
        self.sandboxed = isolation.sandbox is not None
        self.program = program

    def spec(self, source: str, *args: str, **fields: Any) -> RunSpec:
        script = self.directory / "hook.py"
        script.write_text(textwrap.dedent(source))
        fields.setdefault("env", ENV)
        return RunSpec(
            argv=[self.program, str(script), *args], cwd=self.directory,
            timeout=fields.pop("timeout", 30), kill_grace=fields.pop("kill_grace", 5),
            max_output_bytes=65536, limits=LIMITS,
            warm=fields.pop("warm", WarmPolicy()) if self.mode == "warm" else None, **fields,
        )  # fmt: skip

    def run(self, source: str, *args: str, **fields: Any) -> Outcome:
        outcome = asyncio.run(execute(self.spec(source, *args, **fields), self.isolation))
        assert outcome.mode == self.mode, outcome.stderr
        return outcome

    def seen(self, source: str, *args: str, **fields: Any) -> Any:
        outcome = self.run(source, *args, **fields)
        assert outcome.status == "succeeded", outcome.stderr
        return json.loads(outcome.stdout.strip().splitlines()[-1])


@pytest.fixture(params=[*MODES, IN_BWRAP])
def runner(request: pytest.FixtureRequest, isolation: Isolation, tmp_path: Path) -> Runner:
    if request.param == IN_BWRAP:
        directory = Path(tempfile.mkdtemp(dir=request.getfixturevalue("shown")))
        directory.chmod(0o755)
        return Runner(request.getfixturevalue("sandboxed"), "warm", directory)
    return Runner(isolation, request.param, tmp_path)


def test_the_file_runs_as_main_with_its_path_argv_and_directory(runner: Runner) -> None:
    seen = runner.seen(
        """
        import json, os, sys
        print(json.dumps({
            "name": __name__, "file": __file__, "argv": sys.argv, "path0": sys.path[0],
            "main_is_this": sys.modules["__main__"].__dict__ is globals(),
            "cwd": os.getcwd(), "spec": repr(__spec__), "package": __package__,
            "builtins": __builtins__ is __import__("builtins"),
        }))
        """,
        "first",
        "second arg",
    )
    script = str(runner.directory / "hook.py")
    assert seen == {
        "name": "__main__", "file": script, "argv": [script, "first", "second arg"],
        "path0": str(runner.directory), "main_is_this": True, "cwd": str(runner.directory),
        "spec": "None", "package": None, "builtins": True,
    }  # fmt: skip


def test_a_sibling_module_imports_from_the_hooks_directory(runner: Runner) -> None:
    (runner.directory / "sibling_helper.py").write_text("VALUE = 42\n")
    seen = runner.seen("import json, sibling_helper; print(json.dumps(sibling_helper.VALUE))")
    assert seen == 42


def test_the_environment_is_exactly_the_runs(runner: Runner) -> None:
    seen = runner.seen(
        """
        import json, os, subprocess, time
        child = subprocess.run(["env"], capture_output=True, text=True).stdout.splitlines()
        print(json.dumps({"env": dict(os.environ), "child": sorted(child),
                          "tz": time.tzname[0]}))
        """
    )
    seen["env"].pop("HOOKRUNNER_EXEC_ID")
    expected = {**ENV, "PWD": str(runner.directory)}  # exported by the cgroup-entering shell
    assert seen["env"] == expected
    assert [line for line in seen["child"] if not line.startswith("HOOKRUNNER_EXEC_ID=")] == sorted(
        f"{name}={value}" for name, value in expected.items()
    )
    assert seen["tz"] == "IST"  # the run's TZ, not the interpreter's


def test_stdin_is_dev_null_and_only_stdio_is_open(runner: Runner) -> None:
    seen = runner.seen(
        """
        import json, os, sys
        fds = sorted(int(fd) for fd in os.listdir("/proc/self/fd"))
        print(json.dumps({"stdin": sys.stdin.read(), "rdev": os.fstat(0).st_rdev,
                          "fds": fds}))
        """
    )
    assert seen["stdin"] == "" and seen["rdev"] == os.stat(os.devnull).st_rdev
    assert seen["fds"][:3] == [0, 1, 2] and len(seen["fds"]) == 4  # + the listing's own


@pytest.mark.parametrize("code", [0, 1, 3, 75, 255])
def test_exit_codes(runner: Runner, code: int) -> None:
    outcome = runner.run(f"import sys\nprint('before', end='')\nsys.exit({code})")
    assert outcome.exit_code == code and outcome.stdout == "before"
    expected = {0: "succeeded", 75: "tempfail"}.get(code, "failed")
    assert outcome.status == expected


def test_exit_with_a_message_and_by_signal(runner: Runner) -> None:
    message = runner.run("raise SystemExit('no access for you')")
    assert (message.exit_code, message.stderr) == (1, "no access for you\n")
    killed = runner.run("import os, signal\nos.kill(os.getpid(), signal.SIGKILL)")
    assert killed.exit_code == -signal.SIGKILL and killed.status == "failed"


def test_an_uncaught_exception_is_a_traceback_of_the_hook_and_exit_1(runner: Runner) -> None:
    outcome = runner.run("def fail():\n    return 1 / 0\n\nfail()\n")
    script = runner.directory / "hook.py"
    assert outcome.exit_code == 1 and outcome.status == "failed"
    assert outcome.stderr.splitlines() == [
        "Traceback (most recent call last):",
        f'  File "{script}", line 4, in <module>',
        "    fail()",
        f'  File "{script}", line 2, in fail',
        "    return 1 / 0",
        *(["           ~~^~~"] if sys.version_info >= (3, 11) else []),
        "ZeroDivisionError: division by zero",
    ]


def test_a_syntax_error_fails_the_run(runner: Runner) -> None:
    outcome = runner.run("def broken(:\n")
    assert outcome.exit_code == 1 and "SyntaxError" in outcome.stderr


def test_atexit_handlers_run_once_after_threads_with_output_flushed(runner: Runner) -> None:
    outcome = runner.run(
        """
        import atexit, sys, threading, time
        def late():
            time.sleep(0.2)
            print("thread done")
        threading.Thread(target=late).start()
        atexit.register(lambda: print("atexit ran"))
        sys.stderr.write("unflushed stderr")
        print("x" * 20000, end="")
        """
    )
    assert outcome.status == "succeeded", outcome.stderr
    assert outcome.stdout.count("atexit ran") == 1
    assert outcome.stdout.index("thread done") < outcome.stdout.index("atexit ran")
    assert outcome.stdout.startswith("x" * 20000) and outcome.stderr == "unflushed stderr"


def test_random_state_is_fresh_in_every_run(runner: Runner) -> None:
    source = """
        import json, os, random, uuid
        print(json.dumps([random.random(), random.getrandbits(64), uuid.uuid4().hex,
                          os.urandom(8).hex(), os.getpid()]))
    """
    first, second = runner.seen(source), runner.seen(source)
    if runner.sandboxed:  # the pid too is PID 2 of the run's own namespace, as in bubblewrap
        assert first.pop() == second.pop() == 2
    assert all(a != b for a, b in zip(first, second, strict=True)), (first, second)


def test_its_own_pid_session_and_group(runner: Runner) -> None:
    seen = runner.seen(
        "import json, os\nprint(json.dumps([os.getpid(), os.getsid(0), os.getpgid(0)]))"
    )
    assert seen[0] == seen[1] == seen[2] and seen[0] != os.getpid()


def test_rlimits_and_the_runs_own_cgroup(runner: Runner, isolation: Isolation) -> None:
    source = """
        import json, resource
        names = ["RLIMIT_NPROC", "RLIMIT_DATA", "RLIMIT_FSIZE", "RLIMIT_CORE"]
        print(json.dumps({
            "limits": {name: resource.getrlimit(getattr(resource, name)) for name in names},
            "cgroup": open("/proc/self/cgroup").read().splitlines(),
        }))
    """
    first, second = runner.seen(source), runner.seen(source)
    assert first["limits"] == {
        "RLIMIT_NPROC": [300, 300], "RLIMIT_DATA": [900 << 20, 900 << 20],
        "RLIMIT_FSIZE": [50 << 20, 50 << 20], "RLIMIT_CORE": [0, 0],
    }  # fmt: skip
    assert isolation.cgroups is not None
    runs = cgroup_path(isolation.cgroups.runs).rstrip("/") + "/"
    leaves = [
        next(line[3:] for line in seen["cgroup"] if line.startswith("0::"))
        for seen in (first, second)
    ]
    assert all(leaf.startswith(runs) for leaf in leaves) and leaves[0] != leaves[1], leaves
    # On a hybrid host the run's v1 memory and pids leaves (entered through ``tasks``)
    # hold the whole process too.
    for seen, leaf in zip((first, second), leaves, strict=True):
        for controller in isolation.cgroups.v1:
            line = next(line for line in seen["cgroup"] if f":{controller}:" in line)
            assert line.endswith("/" + leaf.rsplit("/", 1)[1]), (controller, seen["cgroup"])


def cgroup_path(directory: Path) -> str:
    """``directory`` as ``/proc/PID/cgroup`` names it (under the cgroup2 mount)."""
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        if " - cgroup2 " in line:
            return "/" + str(directory.relative_to(line.split(" ")[4]))
    raise AssertionError("no cgroup2 mount")


@pytest.mark.parametrize("setup", ["isolation", "sandboxed"])
def test_the_hook_account_and_no_capabilities(
    request: pytest.FixtureRequest, shown: Path, setup: str
) -> None:
    if os.geteuid() != 0:
        pytest.skip("switching to the hook account needs root")
    isolation = request.getfixturevalue(setup)
    directory = Path(tempfile.mkdtemp(dir=shown))
    directory.chmod(0o755)
    nobody = pwd.getpwnam("nobody")
    source = """
        import json, os
        status = dict(line.split(":", 1) for line in open("/proc/self/status"))
        print(json.dumps([os.getuid(), os.geteuid(), os.getgid(), os.getgroups(),
                          status["CapEff"].strip(), status["CapBnd"].strip() != "0" * 16]))
    """
    program = "/usr/bin/python3"  # one the hook account reaches in the sandbox too
    seen = {
        mode: Runner(isolation, mode, directory, program).seen(source, user="nobody")
        for mode in MODES
    }
    assert seen["warm"] == seen["spawn"]
    assert seen["warm"][:4] == [nobody.pw_uid, nobody.pw_uid, nobody.pw_gid, []]
    assert seen["warm"][4] == "0" * 16


def test_a_timed_out_warm_hook_gets_sigterm_then_nothing_is_left(runner: Runner) -> None:
    outcome = runner.run(
        """
        import os, signal, sys, time
        if os.fork() == 0:
            os.setsid()
            time.sleep(600)
        def leave(*_):
            print("cleaned up", flush=True)
            sys.exit(3)
        signal.signal(signal.SIGTERM, leave)
        print("waiting", flush=True)
        time.sleep(600)
        """,
        timeout=2,
        kill_grace=5,
    )
    assert outcome.status == "timed_out" and "cleaned up" in outcome.stdout


def test_private_files_are_written_and_collected(runner: Runner) -> None:
    outcome = runner.run(
        """
        import os
        print(open(os.environ["PAYLOAD_FILE"]).read())
        open(os.environ["RESULT_FILE"], "w").write("answer")
        """,
        files={"PAYLOAD_FILE": b"payload", "RESULT_FILE": b""},
        collect=("RESULT_FILE",),
    )
    assert outcome.stdout == "payload\n" and outcome.collected == {"RESULT_FILE": b"answer"}


def test_the_data_limit_stops_a_memory_hog(runner: Runner) -> None:
    outcome = runner.run("block = bytearray(2 << 30)")
    assert outcome.status == "failed" and "MemoryError" in outcome.stderr


def test_a_missing_file_is_exit_2_with_pythons_complaint(runner: Runner) -> None:
    spec = runner.spec("")
    missing = str(runner.directory / "missing.py")
    spec = RunSpec(**{**spec.__dict__, "argv": [sys.executable, missing]})
    outcome = asyncio.run(execute(spec, runner.isolation))
    assert outcome.mode == runner.mode and outcome.exit_code == 2
    assert outcome.stderr == (
        f"{sys.executable}: can't open file {missing!r}: [Errno 2] No such file or directory\n"
    )


def test_a_daemonized_grandchild_holding_the_pipes_does_not_hang_the_run(runner: Runner) -> None:
    started = time.monotonic()
    outcome = runner.run(
        """
        import os, time
        if os.fork() == 0:
            os.setsid()
            if os.fork() == 0:
                time.sleep(600)  # keeps stdout/stderr open
            os._exit(0)
        time.sleep(0.3)
        print("parent done")
        """
    )
    assert outcome.status == "succeeded" and outcome.stdout == "parent done\n"
    assert time.monotonic() - started < 15


def test_large_output_keeps_head_and_tail(runner: Runner) -> None:
    outcome = runner.run(
        """
        import sys
        sys.stdout.write("HEAD\\n" + ("x" * 1023 + "\\n") * 1024 + "TAIL\\n")
        """
    )
    assert outcome.status == "succeeded" and outcome.truncated
    assert outcome.stdout.startswith("HEAD\n") and outcome.stdout.endswith("TAIL\n")
    assert "bytes dropped" in outcome.stdout


def test_the_file_size_limit_applies(runner: Runner) -> None:
    big = "/tmp/big" if runner.sandboxed else "big"  # its snapshot is read-only there
    outcome = runner.run(f"open({big!r}, 'wb').write(b'x' * (60 << 20))")
    assert outcome.exit_code == 1 and "File too large" in outcome.stderr  # Python ignores SIGXFSZ
    if not runner.sandboxed:
        assert (runner.directory / "big").stat().st_size <= LIMITS.max_file_bytes


def test_a_session_hook_sees_nothing_the_flow_harness_preloaded(runner: Runner) -> None:
    seen = runner.seen(
        """
        import json, sys
        print(json.dumps(sorted(name for name in sys.modules
                                if name.split(".")[0] in ("sym", "hookrunner"))))
        """
    )
    assert seen == []


def test_nothing_of_an_earlier_run_is_in_a_later_runs_memory(runner: Runner) -> None:
    first, second = "payload-of-the-earlier-run", "-7f3a9c"  # never whole in the later run
    runner.seen("print('[]')", env={**ENV, "EARLIER": (first + second) * 20})
    found = runner.seen(
        """
        import json, os
        first, second = (half.encode() for half in os.environ["HALVES"].split(","))
        found = 0
        with open("/proc/self/maps") as maps, open("/proc/self/mem", "rb", 0) as memory:
            for line in maps:
                bounds, permissions = line.split()[:2]
                start, end = (int(bound, 16) for bound in bounds.split("-"))
                try:
                    memory.seek(start)
                    data = memory.read(end - start)
                except (OSError, ValueError, OverflowError):
                    continue
                at = data.find(first)
                while at >= 0:
                    found += data[at + len(first) : at + len(first) + len(second)] == second
                    at = data.find(first, at + 1)
        print(json.dumps(found))
        """,
        env={**ENV, "HALVES": f"{first},{second}"},
    )
    assert found == 0
