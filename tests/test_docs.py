"""The docs test: every shell command of the README and the docs' quick starts, as written.

``make run``'s setup (``scripts/run_local.py``) runs in a temporary directory; each
document's ```sh blocks run there in order, in one bash with ``set -euo pipefail``, so a
doc line that stops working fails here. A block preceded by
``<!-- docs-test: skip (why) -->`` needs a real host (root, systemd) and is not run.
"""

from __future__ import annotations

import contextlib
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

import httpx
import pytest
from conftest import free_port, git

ROOT = Path(__file__).resolve().parents[1]
# (document, the directory its commands run in, relative to make run's directory)
DOCUMENTS = (
    ("README.md", "."),
    ("docs/git-webhook.md", "."),
    ("docs/operations.md", "."),
    ("docs/writing-hooks.md", "sample-runbooks"),
    ("sample-runbooks/README.md", "sample-runbooks"),
)
BLOCK = re.compile(r"(?:^(<!-- docs-test: skip[^\n]*-->)\n)?^```sh\n(.*?)^```", re.M | re.S)
# Commands the fixture has done already: `make run` is what it starts.
DONE_BY_SETUP = re.compile(r"^make (run|test)\b")
# What the README has a reader do first in a new terminal; other documents assume it.
SESSION = (
    ". .venv/bin/activate\n"
    "export HOOKRUNNER_CONFIG=$PWD/.state/hookrunner.toml\n"
    "export HOOKRUNNER_TOKEN=$(cat .state/token)\n"
)


def commands(document: str) -> list[str]:
    """The commands of a document's runnable ```sh blocks, continuation lines joined."""
    found = []
    for skip, body in BLOCK.findall((ROOT / document).read_text()):
        if skip:
            continue
        for command in body.replace("\\\n", " ").splitlines():
            if command.strip() and not DONE_BY_SETUP.match(command):
                found.append(command)
    return found


class MakeRun(NamedTuple):
    directory: Path
    output: Path


@contextlib.contextmanager
def running_make_run(directory: Path, port: int) -> Iterator[MakeRun]:
    """scripts/run_local.py as `make run` starts it, until it answers /readyz."""
    output = directory / "make-run.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HOOKRUNNER_", "GIT_"))}
    with output.open("ab") as log:
        process = subprocess.Popen(
            [sys.executable, str(ROOT / "scripts/run_local.py"), "--state", ".state",
             "--listen", f"127.0.0.1:{port}"],
            cwd=directory, env=env, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        wait_until_ready(f"http://127.0.0.1:{port}", process, output)
        yield MakeRun(directory, output)
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)


@pytest.fixture(scope="module")
def make_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MakeRun]:
    """make run's setup in a directory laid out like a checkout."""
    directory = tmp_path_factory.mktemp("checkout")
    (directory / ".venv").symlink_to(Path(sys.executable).parent.parent)
    shutil.copytree(ROOT / "sample-runbooks", directory / "sample-runbooks")
    with running_make_run(directory, free_port()) as running:
        yield running


def wait_until_ready(url: str, process: subprocess.Popen[bytes], output: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert process.poll() is None, output.read_text()
        try:
            if httpx.get(f"{url}/readyz", timeout=5).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise TimeoutError(f"make run never got ready:\n{output.read_text()}")


def run_document(make_run: MakeRun, document: str, cwd: str) -> str:
    """Run the document's commands in order; fail naming the first one that fails."""
    lines = ["set -euo pipefail", SESSION if document != "README.md" else "", f"cd {cwd}"]
    for command in commands(document):
        lines += [f"echo {shlex.quote('::: ' + command)} >&2", command]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HOOKRUNNER_", "GIT_"))}
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    result = subprocess.run(
        ["bash", "-c", "\n".join(lines)],
        cwd=make_run.directory, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    if result.returncode != 0:
        ran = [line for line in result.stderr.splitlines() if line.startswith("::: ")]
        failed = ran[-1][4:] if ran else "(before the first command)"
        pytest.fail(
            f"{document}: `{failed}` failed ({result.returncode}):\n{result.stderr[-3000:]}"
        )
    return result.stdout


def test_every_document_has_runnable_commands() -> None:
    for document, _cwd in DOCUMENTS:
        assert commands(document), document
    assert any(c.startswith("hookrunner flow revoke") for c in commands("README.md"))


@pytest.mark.parametrize(("document", "cwd"), DOCUMENTS)
def test_document_commands_run_as_written(make_run: MakeRun, document: str, cwd: str) -> None:
    run_document(make_run, document, cwd)
    if document == "README.md":  # the walk-through granted access, then removed it
        said = make_run.output.read_text()
        assert "[access API] granted prod-db-readonly to dev@example.com for 30 min" in said
        assert "[access API] removed prod-db-readonly from dev@example.com" in said


def test_a_broken_doc_line_fails_and_is_named(
    make_run: MakeRun, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    broken = tmp_path / "broken.md"
    broken.write_text("```sh\nhookrunner status\nhookrunner runs show no-such-run\n```\n")
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    with pytest.raises(pytest.fail.Exception, match="`hookrunner runs show no-such-run` failed"):
        run_document(make_run, "broken.md", ".")


def test_make_run_keeps_the_users_commits_and_syncs_on_its_own(tmp_path: Path) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    runbooks = tmp_path / ".state/runbooks"
    with running_make_run(tmp_path, port):
        token = (tmp_path / ".state/token").read_text().strip()
        (runbooks / "hoop-hooks/NOTES.md").write_text("mine\n")
        git("add", "-A", cwd=runbooks)
        git("commit", "-q", "-m", "my change", cwd=runbooks)
        mine = git("rev-parse", "HEAD", cwd=runbooks)
        # No event is sent: the daemon's own refresh every repo.ttl (5 s) picks it up.
        status = {"commit": None}
        deadline = time.monotonic() + 60
        while status["commit"] != mine and time.monotonic() < deadline:
            time.sleep(0.2)
            headers = {"Authorization": f"Bearer {token}"}
            status = httpx.get(f"{url}/v1/status", headers=headers, timeout=10).json()
        assert status["commit"] == mine
    with running_make_run(tmp_path, port):
        assert git("rev-parse", "HEAD", cwd=runbooks) == mine
        assert (runbooks / "hoop-hooks/NOTES.md").read_text() == "mine\n"
        assert (tmp_path / ".state/token").read_text().strip() == token


def test_a_flow_hook_run_is_not_replayed(make_run: MakeRun) -> None:
    """Its request is what to act on: the replay is refused in one line, not a 500."""
    session = SESSION + "hookrunner flow request break-glass --user oncall@example.com"
    session += " --field incident=INC-9 -q >/dev/null\nhookrunner runs --quiet --limit 1\n"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HOOKRUNNER_", "GIT_"))}
    listed = subprocess.run(
        ["bash", "-c", session], cwd=make_run.directory, env=env, capture_output=True, text=True,
        timeout=120,
    )  # fmt: skip
    assert listed.returncode == 0, listed.stderr
    replay = subprocess.run(
        ["bash", "-c", SESSION + f"hookrunner runs replay {listed.stdout.strip()}"],
        cwd=make_run.directory, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert replay.returncode == 2
    assert replay.stderr.startswith("hookrunner: HTTP 409: run ") and "flow hook" in replay.stderr
