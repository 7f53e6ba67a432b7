"""Hook environments: real venvs built by uv (and pip) from a local wheelhouse, no network.

The packages are built in the test from a pyproject written to tmp (``wheelhouse.py``)
and served from a ``find_links`` directory with the index turned off.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import pwd
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import WorkRepo
from daemon_harness import RunningDaemon, wait_for_log
from prometheus_client import REGISTRY
from wheelhouse import build_package

from hookrunner.config import EnvironmentSettings, ExecutorSettings, RepoSettings, Settings
from hookrunner.environments import EnvironmentBuildError, EnvironmentStore
from hookrunner.environments.installers import PipInstaller
from hookrunner.environments.requirements import check
from hookrunner.flows.definition import load_flow
from hookrunner.flows.runner import FlowRunner
from hookrunner.hook_isolation import start_isolation
from hookrunner.hook_runtime import HookRuntime
from hookrunner.payloads import parse_session_event
from hookrunner.repo import HookIndex, Repository, Snapshot, build_index
from hookrunner.session_hooks import run_session_hook

IMPORTING_HOOK = """\
import sys
import {module}
print({module}.VERSION, sys.prefix)
"""


@pytest.fixture(scope="module")
def wheelhouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """hrtiny 1.0 and 2.0 as wheels; hrslow 3.0 as an sdist whose build takes 4 s."""
    work = tmp_path_factory.mktemp("packages")
    wheels = work / "wheels"
    build_package(work, wheels, "hrtiny", "1.0")
    build_package(work, wheels, "hrtiny", "2.0")
    build_package(work, wheels, "hrbig", "1.0", pad=3 << 20)
    build_package(work, wheels, "hrslow", "3.0", sdist=True, delay=4.0)
    return wheels


def offline(wheelhouse: Path, **changes: object) -> EnvironmentSettings:
    return EnvironmentSettings(find_links=[str(wheelhouse)], no_index=True, **changes)


class Deployment:
    """A repository synced the way the daemon syncs it; its hooks run from its store."""

    def __init__(self, tmp_path: Path, work_repo: WorkRepo, settings: EnvironmentSettings) -> None:
        state = tmp_path / "state"
        self.store = EnvironmentStore(
            state / "environments",
            Settings(environments=settings),
            live_trees=lambda: self.repository.store.snapshots.iterdir(),
        )
        self.repo_settings = RepoSettings(url=str(work_repo.bare), ttl=3600, refresh_wait=0.5)
        self.repository = Repository(lambda: self.repo_settings, state, self.store.prepare)
        self.work_repo = work_repo
        self.runtime = HookRuntime(environments=self.store)

    def push(self, requirements: str, module: str = "hrtiny", note: str = "") -> str:
        hook = IMPORTING_HOOK.format(module=module) + (f"# {note}\n" if note else "")
        return self.work_repo.commit(
            {
                "hoop-hooks/requirements.txt": requirements,
                "hoop-hooks/session-open.runbook.py": hook,
            }
        )

    def sync(self) -> None:
        report = self.repository.refresh()
        assert report is not None and report.ok, report

    async def hook(
        self, index: HookIndex | None = None, settings: ExecutorSettings | None = None
    ) -> str:
        index = index or self.repository.last_good()
        assert index is not None
        event = parse_session_event("session-open", {"sid": "s1", "connection_name": "pg"})
        result = await run_session_hook(
            event,
            index,
            settings or ExecutorSettings(),
            self.runtime,
            run_id="r",
            event_id="e",
            attempt=1,
        )
        assert result.status == "succeeded", result.stderr
        return result.stdout

    def run_hook(
        self, index: HookIndex | None = None, settings: ExecutorSettings | None = None
    ) -> str:
        return asyncio.run(self.hook(index, settings))


@pytest.fixture
def deployment(tmp_path: Path, work_repo: WorkRepo, wheelhouse: Path) -> Deployment:
    return Deployment(tmp_path, work_repo, offline(wheelhouse, allow_source_builds=True))


def builds(result: str) -> float:
    value = REGISTRY.get_sample_value("hookrunner_environment_builds_total", {"result": result})
    return value or 0.0


def test_a_hook_importing_a_package_runs_in_its_environment(deployment: Deployment) -> None:
    deployment.push("hrtiny==1.0\n")
    deployment.sync()
    version, prefix = deployment.run_hook().split()
    assert version == "1.0"
    assert Path(prefix).parent == deployment.store.root


def test_two_deployments_in_one_process_run_hooks_from_their_own_stores(
    tmp_path: Path, work_repo: WorkRepo, wheelhouse: Path
) -> None:
    """Two daemons (or a daemon and a dry-run) in one process, running hooks at once:
    each hook gets its own deployment's environment, never the other's."""
    first = Deployment(tmp_path / "first", work_repo, offline(wheelhouse))
    second = Deployment(tmp_path / "second", work_repo, offline(wheelhouse))
    first.push("hrtiny==1.0\n")
    first.sync()
    second.push("hrtiny==2.0\n")
    second.sync()

    async def both() -> list[str]:
        return await asyncio.gather(first.hook(), second.hook(), first.hook())

    seen = [output.split() for output in asyncio.run(both())]
    assert [version for version, _prefix in seen] == ["1.0", "2.0", "1.0"]
    roots = [Path(prefix).parent for _version, prefix in seen]
    assert roots == [first.store.root, second.store.root, first.store.root]


@pytest.mark.parametrize("mode", ["spawn", "warm"])
def test_a_sandboxed_hook_imports_a_package_from_its_environment(
    deployment: Deployment, tmp_path: Path, mode: str
) -> None:
    """The sandbox hides the state directory; the environments under it are shown again."""
    if shutil.which("bwrap") is None:
        pytest.skip("bubblewrap (bwrap) is not installed")
    deployment.push("hrtiny==1.0\n")
    deployment.sync()
    settings = Settings(
        state={"dir": str(tmp_path / "state")}, executor={"sandbox": "bwrap", "mode": mode}
    )
    isolation = start_isolation(settings, None, [deployment.repository.store.snapshots])
    deployment.runtime.isolation = isolation
    try:
        version, prefix = deployment.run_hook(settings=settings.executor).split()
    finally:
        isolation.close()
    assert version == "1.0" and Path(prefix).parent == deployment.store.root


def test_a_hook_without_requirements_runs_with_the_configured_interpreter(
    deployment: Deployment,
) -> None:
    deployment.work_repo.commit(
        {"hoop-hooks/session-open.runbook.py": "import sys\nprint(sys.prefix)\n"}
    )
    deployment.sync()
    assert not Path(deployment.run_hook().strip()).is_relative_to(deployment.store.root)
    assert not deployment.store.environments()


def test_two_commits_with_the_same_requirements_share_one_environment(
    deployment: Deployment,
) -> None:
    deployment.push("hrtiny==1.0\n")
    deployment.sync()
    first = deployment.run_hook()
    before = builds("ok")
    deployment.push("hrtiny==1.0\n", note="only the hook changed")
    deployment.sync()
    assert deployment.run_hook() == first
    assert builds("ok") == before
    assert len(deployment.store.environments()) == 1


def test_changed_requirements_build_while_the_old_snapshot_serves_then_switch_at_once(
    deployment: Deployment,
) -> None:
    old_commit = deployment.push("hrtiny==1.0\n")
    deployment.sync()
    old_environment = deployment.store.environments()
    new_commit = deployment.push("hrslow==3.0\n", module="hrslow")  # a 4 s build
    finished = threading.Event()
    threading.Thread(target=lambda: (deployment.sync(), finished.set()), daemon=True).start()
    seen = set()
    deadline = time.monotonic() + 60
    while not finished.is_set() and time.monotonic() < deadline:
        index = deployment.repository.acquire()
        assert index is not None
        try:
            seen.add(index.snapshot.commit)
            if index.snapshot.commit == old_commit:
                # The old snapshot still runs with its own, complete environment.
                assert deployment.run_hook(index).split()[0] == "1.0"
            if deployment.store.environments() != old_environment:
                # The new environment appeared only once complete: never half-built.
                assert all(
                    (env / "hookrunner-environment.json").is_file()
                    for env in deployment.store.environments()
                )
        finally:
            deployment.repository.release(index)
    assert finished.is_set()
    assert old_commit in seen
    assert deployment.repository.last_good().snapshot.commit == new_commit  # type: ignore[union-attr]
    assert deployment.run_hook().split()[0] == "3.0"
    # The old environment is collected once no snapshot uses it (at the next build,
    # which keeps the environment of the snapshot still serving while it runs).
    deployment.push("hrtiny==2.0\n")
    deployment.sync()
    assert old_environment[0] not in deployment.store.environments()
    assert len(deployment.store.environments()) == 2


def test_an_event_waits_at_most_refresh_wait_while_a_build_runs(
    tmp_path: Path, work_repo: WorkRepo, wheelhouse: Path
) -> None:
    deployment = Deployment(tmp_path, work_repo, offline(wheelhouse, allow_source_builds=True))
    old_commit = deployment.push("hrtiny==1.0\n")
    deployment.sync()
    deployment.push("hrslow==3.0\n", module="hrslow")  # a build of at least 4 s
    deployment.repo_settings = RepoSettings(url=str(work_repo.bare), ttl=0, refresh_wait=0.5)
    started = time.monotonic()
    index = deployment.repository.index()  # the TTL has expired: this starts the refresh
    waited = time.monotonic() - started
    assert index is not None and index.snapshot.commit == old_commit
    assert waited < 3.0, waited  # refresh_wait (0.5 s) plus a loaded machine, not the build
    assert deployment.repository.refresh(wait=60) is not None


def test_a_broken_requirement_keeps_the_last_good_snapshot_and_reports_it(
    deployment: Deployment,
) -> None:
    good = deployment.push("hrtiny==1.0\n")
    deployment.sync()
    errors = builds("error")
    deployment.push("hrtiny==9.9\n")
    report = deployment.repository.refresh()
    assert report is not None and not report.ok
    assert report.error is not None and "hoop-hooks/requirements.txt" in report.error
    assert "hrtiny" in report.error
    assert builds("error") == errors + 1
    assert deployment.repository.last_good().snapshot.commit == good  # type: ignore[union-attr]
    assert deployment.run_hook().split()[0] == "1.0"
    assert not list(deployment.repository.store.snapshots.glob(".tmp-*"))
    assert not list(deployment.store.root.glob(".build-*"))
    fixed = deployment.push("hrtiny==2.0\n")
    deployment.sync()
    assert deployment.repository.last_good().snapshot.commit == fixed  # type: ignore[union-attr]
    assert deployment.run_hook().split()[0] == "2.0"


def test_wheels_only_unless_source_builds_are_allowed(
    tmp_path: Path, work_repo: WorkRepo, wheelhouse: Path
) -> None:
    deployment = Deployment(tmp_path, work_repo, offline(wheelhouse))
    deployment.push("hrslow==3.0\n", module="hrslow")
    report = deployment.repository.refresh()
    assert report is not None and not report.ok and "hrslow" in (report.error or "")
    assert deployment.repository.last_good() is None


def test_option_lines_are_refused_with_their_line(tmp_path: Path) -> None:
    for line in ("-r other.txt", "--index-url https://evil.example/simple", "-e ./pkg"):
        with pytest.raises(EnvironmentBuildError) as caught:
            check("hoop-hooks/requirements.txt", f"# pinned\nhrtiny==1.0\n{line}\n".encode())
        assert caught.value.line == 3
        assert str(caught.value).startswith("hoop-hooks/requirements.txt:3: option -")
    hashed = check("x", b"hrtiny==1.0 \\\n    --hash=sha256:00\n")
    assert hashed.hashed
    assert not check("x", b"hrtiny==1.0  # no --hash here\n").hashed


def test_hashes_are_required_when_the_file_has_them(tmp_path: Path, wheelhouse: Path) -> None:
    store = EnvironmentStore(tmp_path / "envs", Settings(environments=offline(wheelhouse)))
    digest = hashlib.sha256((wheelhouse / "hrtiny-1.0-py3-none-any.whl").read_bytes()).hexdigest()
    wrong = check("r.txt", f"hrtiny==1.0 --hash=sha256:{'0' * 64}\n".encode())
    with pytest.raises(EnvironmentBuildError, match=r"(?i)hash"):
        store.ensure(wrong)
    assert not store.environments()
    right = check("r.txt", f"hrtiny==1.0 --hash=sha256:{digest}\n".encode())
    assert (store.ensure(right) / "bin" / "python").exists()


def test_all_environments_together_stay_under_max_bytes(tmp_path: Path, wheelhouse: Path) -> None:
    store = EnvironmentStore(
        tmp_path / "envs", Settings(environments=offline(wheelhouse, max_bytes=2 << 20))
    )
    with pytest.raises(EnvironmentBuildError, match=r"environments\.max_bytes"):
        store.ensure(check("r.txt", b"hrbig==1.0\n"))
    assert not store.environments()
    assert not list(store.root.glob(".build-*"))


def test_pip_builds_the_same_environment_when_uv_is_missing(
    tmp_path: Path, wheelhouse: Path
) -> None:
    settings = offline(wheelhouse)
    store = EnvironmentStore(
        tmp_path / "envs",
        Settings(environments=settings),
        installer=PipInstaller(settings, tmp_path / "c"),
    )
    python = store.ensure(check("r.txt", b"hrtiny==2.0\n")) / "bin" / "python"
    answer = subprocess.run(
        [python, "-c", "import hrtiny; print(hrtiny.VERSION)"], capture_output=True, text=True
    )
    assert answer.stdout.strip() == "2.0", answer.stderr


@pytest.fixture
def shared_tmp() -> Iterator[Path]:
    """A directory other accounts can traverse (pytest's tmp_path is private to root)."""
    with tempfile.TemporaryDirectory(prefix="hookrunner-env-test-") as name:
        os.chmod(name, 0o711)
        yield Path(name)


SYSTEM_PYTHON = "/usr/bin/python3"  # the account's interpreter must be open to it, too


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to run as another account")
@pytest.mark.skipif(not os.access(SYSTEM_PYTHON, os.X_OK), reason="no system python3")
def test_the_hook_account_can_use_an_environment_but_not_change_it(
    shared_tmp: Path, wheelhouse: Path
) -> None:
    nobody = pwd.getpwnam("nobody")
    store = EnvironmentStore(
        shared_tmp / "envs",
        Settings(environments=offline(wheelhouse), executor={"interpreter": SYSTEM_PYTHON}),
    )
    environment = store.ensure(check("r.txt", b"hrtiny==1.0\n"))
    python = environment / "bin" / "python"
    use = subprocess.run(
        [python, "-c", "import hrtiny; print(hrtiny.VERSION)"],
        capture_output=True, text=True, user=nobody.pw_uid, group=nobody.pw_gid, extra_groups=[],
    )  # fmt: skip
    assert use.stdout.strip() == "1.0", use.stderr
    tamper = (
        "import hrtiny, pathlib, sys\n"
        "site = pathlib.Path(hrtiny.__file__).parent\n"
        "for attempt in (lambda: open(hrtiny.__file__, 'a'),\n"
        "                lambda: (site / 'evil.py').write_text('x'),\n"
        "                lambda: (site / 'hrtiny.py').unlink()):\n"
        "    try:\n"
        "        attempt()\n"
        "    except PermissionError:\n"
        "        continue\n"
        "    sys.exit('changed the environment')\n"
    )
    changed = subprocess.run(
        [python, "-c", tamper],
        capture_output=True, text=True, user=nobody.pw_uid, group=nobody.pw_gid, extra_groups=[],
    )  # fmt: skip
    assert changed.returncode == 0, changed.stderr
    assert (environment / "lib").stat().st_uid == os.geteuid()


def test_the_daemon_serves_with_environments_and_reports_a_failed_build(
    tmp_path: Path, work_repo: WorkRepo, wheelhouse: Path
) -> None:
    hook = IMPORTING_HOOK.format(module="hrtiny")
    good = work_repo.commit(
        {"hoop-hooks/requirements.txt": "hrtiny==1.0\n", "hoop-hooks/session-open.runbook.py": hook}
    )
    daemon = RunningDaemon(
        tmp_path,
        str(work_repo.bare),
        environments={"find_links": [str(wheelhouse)], "no_index": True},
    )
    daemon.start()
    try:
        with daemon.client() as admin:
            body = {"sid": "d1", "connection_name": "pg"}
            (run,) = admin.post("/v1/events/session-open?wait=true", json=body).json()["runs"]
            assert run["status"] == "succeeded", run
            assert run["stdout"].split()[0] == "1.0"
            state = tmp_path / "daemon" / "state"
            assert Path(run["stdout"].split()[1]).parent == state / "environments"
            work_repo.commit({"hoop-hooks/requirements.txt": "hrtiny==9.9\n"})
            refused = admin.post("/v1/sync")
            assert refused.status_code == 502
            assert "hoop-hooks/requirements.txt" in refused.json()["error"]
            status = admin.get("/v1/status").json()
            assert status["commit"] == good
            assert status["last_sync"]["ok"] is False
            assert "hrtiny" in status["last_sync"]["error"]
            metrics = admin.get("/metrics").text
            assert 'hookrunner_environment_builds_total{result="error"} 1.0' in metrics
            body = {"sid": "d2", "connection_name": "pg"}
            (run,) = admin.post("/v1/events/session-open?wait=true", json=body).json()["runs"]
            assert run["status"] == "succeeded" and run["commit"] == good
    finally:
        daemon.stop()
    assert '"environment_build"' in daemon.log_text()


def test_a_reload_reaches_the_next_environment_build(
    tmp_path: Path, work_repo: WorkRepo, wheelhouse: Path
) -> None:
    """SIGHUP with a new ``[environments]``: the daemon's next build uses it."""
    empty = tmp_path / "no-wheels"
    empty.mkdir()
    work_repo.commit({"hoop-hooks/session-open.runbook.py": "print('ready')\n"})
    daemon = RunningDaemon(
        tmp_path, str(work_repo.bare), environments={"find_links": [str(empty)], "no_index": True}
    )
    daemon.start()
    try:
        with daemon.client() as admin:
            wanted = work_repo.commit(
                {
                    "hoop-hooks/requirements.txt": "hrtiny==1.0\n",
                    "hoop-hooks/session-open.runbook.py": IMPORTING_HOOK.format(module="hrtiny"),
                }
            )
            assert admin.post("/v1/sync").status_code == 502  # nothing to build it from
            config = daemon.config.read_text().replace(str(empty), str(wheelhouse))
            daemon.config.write_text(config)
            assert daemon.process is not None
            daemon.process.send_signal(signal.SIGHUP)
            wait_for_log(daemon, '"reloaded"')
            deadline = time.monotonic() + 120
            while admin.get("/v1/status").json()["commit"] != wanted:
                assert time.monotonic() < deadline, daemon.log_text()
                admin.post("/v1/sync")
                time.sleep(0.2)
            body = {"sid": "r1", "connection_name": "pg"}
            (run,) = admin.post("/v1/events/session-open?wait=true", json=body).json()["runs"]
            assert run["status"] == "succeeded", run
            assert run["stdout"].split()[0] == "1.0"
    finally:
        daemon.stop()


def hookrunner_cli(*args: str, cache: Path, config: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOOKRUNNER_")}
    env["XDG_CACHE_HOME"] = str(cache)
    return subprocess.run(
        [sys.executable, "-m", "hookrunner", *args, "--config", str(config)],
        capture_output=True, text=True, env=env, timeout=120,
    )  # fmt: skip


@pytest.fixture
def offline_config(tmp_path: Path, wheelhouse: Path) -> Path:
    config = tmp_path / "hookrunner.toml"
    config.write_text(f'[environments]\nfind_links = ["{wheelhouse}"]\nno_index = true\n')
    return config


def test_dry_run_builds_the_environment_in_a_fresh_user_cache(
    tmp_path: Path, offline_config: Path
) -> None:
    tree = tmp_path / "runbooks"
    (tree / "hoop-hooks").mkdir(parents=True)
    (tree / "hoop-hooks" / "requirements.txt").write_text("hrtiny==2.0\n")
    (tree / "hoop-hooks" / "session-open.runbook.py").write_text(
        IMPORTING_HOOK.format(module="hrtiny")
    )
    cache = tmp_path / "cache"
    args = ("dry-run", "session-open", "--repo", str(tree), "--sid", "x")
    first = hookrunner_cli(*args, cache=cache, config=offline_config)
    assert first.returncode == 0, first.stderr
    assert "2.0" in first.stdout
    assert "building the environment for hoop-hooks/requirements.txt" in first.stderr
    assert str(cache / "hookrunner" / "environments") in first.stdout
    again = hookrunner_cli(*args, cache=cache, config=offline_config)
    assert again.returncode == 0 and "building" not in again.stderr
    (tree / "hoop-hooks" / "requirements.txt").write_text("hrtiny==9.9\n")
    broken = hookrunner_cli(*args, cache=cache, config=offline_config)
    assert broken.returncode != 0
    assert "hoop-hooks/requirements.txt" in broken.stderr.strip().splitlines()[-1]
    assert "Traceback" not in broken.stderr


def test_validate_builds_environments_and_names_the_bad_file(
    tmp_path: Path, offline_config: Path
) -> None:
    tree = tmp_path / "runbooks"
    (tree / "flows" / "db").mkdir(parents=True)
    (tree / "flows" / "db" / "impl.py").write_text("")
    (tree / "flows" / "db" / "requirements.txt").write_text("hrtiny==1.0\n--index-url x\n")
    cache = tmp_path / "cache"
    result = hookrunner_cli("validate", str(tree), cache=cache, config=offline_config)
    assert result.returncode != 0
    assert "flows/db/requirements.txt:2: error: option --index-url" in result.stderr
    (tree / "flows" / "db" / "requirements.txt").write_text("hrtiny==9.9\n")
    offline = hookrunner_cli(
        "validate", "--no-build", str(tree), cache=cache, config=offline_config
    )
    assert "requirements.txt" not in offline.stderr
    built = hookrunner_cli("validate", str(tree), cache=cache, config=offline_config)
    assert "flows/db/requirements.txt:0: error: installing:" in built.stderr


def test_a_missing_environment_fails_closed_and_is_rebuilt_for_the_next_run(
    deployment: Deployment,
) -> None:
    deployment.push("hrtiny==2.0\n")
    deployment.sync()
    (environment,) = deployment.store.environments()
    shutil.rmtree(environment)  # an operator's cleanup, or an upgraded interpreter
    index = deployment.repository.last_good()
    assert index is not None
    event = parse_session_event("session-open", {"sid": "m", "connection_name": "pg"})
    failed = asyncio.run(
        run_session_hook(
            event,
            index,
            ExecutorSettings(),
            deployment.runtime,
            run_id="r",
            event_id="e",
            attempt=1,
        )
    )
    assert failed.status == "failed"
    assert str(environment) in failed.stderr
    deadline = time.monotonic() + 60
    while not (environment / "bin" / "python").exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert deployment.run_hook().split()[0] == "2.0"


def test_a_build_past_build_timeout_is_killed_and_refused(tmp_path: Path, wheelhouse: Path) -> None:
    settings = offline(wheelhouse, allow_source_builds=True, build_timeout=1)
    store = EnvironmentStore(tmp_path / "envs", Settings(environments=settings))
    started = time.monotonic()
    with pytest.raises(EnvironmentBuildError, match="took longer than 1 s"):
        store.ensure(check("r.txt", b"hrslow==3.0\n"))  # its build sleeps 4 s
    assert time.monotonic() - started < 4
    assert not store.environments()


def test_each_flow_gets_its_own_environment_and_its_hooks_run_in_it(
    tmp_path: Path, wheelhouse: Path
) -> None:
    tree = tmp_path / "tree"
    for slug, version in (("one", "1.0"), ("two", "2.0"), ("Not A Slug", "9.9")):
        (tree / "flows" / slug).mkdir(parents=True)
        (tree / "flows" / slug / "requirements.txt").write_text(f"hrtiny=={version}\n")
    store = EnvironmentStore(tmp_path / "envs", Settings(environments=offline(wheelhouse)))
    store.prepare(tree)  # hrtiny 9.9 does not exist: the non-flow directory is not built
    for slug, version in (("one", "1.0"), ("two", "2.0")):
        python = store.python_for(tree / "flows" / slug)
        answer = subprocess.run(
            [python, "-c", "import hrtiny; print(hrtiny.VERSION)"], capture_output=True, text=True
        )
        assert answer.stdout.strip() == version, answer.stderr
    assert len(store.environments()) == 2


def test_a_flow_runbook_runs_with_its_flows_environment(tmp_path: Path, wheelhouse: Path) -> None:
    flow_dir = tmp_path / "tree" / "flows" / "db"
    flow_dir.mkdir(parents=True)
    (flow_dir / "impl.py").write_text("")
    (flow_dir / "requirements.txt").write_text("hrtiny==2.0\n")
    (flow_dir / "escalate.runbook.py").write_text(IMPORTING_HOOK.format(module="hrtiny"))
    store = EnvironmentStore(tmp_path / "envs", Settings(environments=offline(wheelhouse)))
    store.prepare(tmp_path / "tree")
    index = build_index(Snapshot("c0ffee", tmp_path / "tree"))
    flow = load_flow(index, "db")
    runner = FlowRunner(ExecutorSettings(), HookRuntime(environments=store), "c0ffee", "e")
    call = asyncio.run(runner.runbook(flow, flow_dir / "escalate.runbook.py", {}, "req"))
    assert call.ok, call.result.stderr
    assert call.result.stdout.split()[0] == "2.0"
