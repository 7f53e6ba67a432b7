"""Hooks call integrations through the daemon's per-run channel, from real subprocesses."""

from __future__ import annotations

import ast
import asyncio
import contextlib
import io
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from hookrunner.config import ExecutorSettings
from hookrunner.flows.definition import load_flow
from hookrunner.flows.runner import FlowRunner
from hookrunner.hook_runtime import HookRuntime
from hookrunner.integrations import Integrations, channel_client
from hookrunner.integrations.channel import ChannelServer, RunContext
from hookrunner.repo import Snapshot, build_index
from hookrunner_dev.fakes.base import settings_for
from hookrunner_dev.fakes.slack import FakeSlack

CLIENT = Path(channel_client.__file__)
SYSTEM_PYTHON = shutil.which("python3", path="/usr/bin:/bin") or "python3"
NOBODY = 65534
SLACK = frozenset({"slack"})  # the tables the run's flow lists

# A hook: the stdlib-only client loaded by path, a list of calls from argv, answers as JSON.
HOOK = """
import importlib.util, json, os, sys
spec = importlib.util.spec_from_file_location("channel_client", sys.argv[1])
client = importlib.util.module_from_spec(spec)
spec.loader.exec_module(client)
answers = []
for integration, function, args in json.loads(sys.argv[2]):
    try:
        answers.append({"value": client.call(integration, function, args)})
    except client.ChannelError as exc:
        answers.append({"error": exc.error, "message": exc.message, "code": exc.code})
print(json.dumps({"answers": answers, "env": dict(os.environ)}))
"""


@pytest.fixture
def fake() -> Iterator[FakeSlack]:
    fake = FakeSlack()
    fake.add_user("U01", "dev@acme.io", "dev")
    fake.add_user("U02", "boss@acme.io", "boss")
    fake.add_channel("C01", "ops", ["U01", "U02"])
    yield fake.start()
    fake.stop()


@pytest.fixture
def socket_dir() -> Iterator[Path]:
    """A directory another account can traverse, as the daemon's runtime directory is."""
    path = Path(tempfile.mkdtemp(prefix="hookrunner-channel-"))
    path.chmod(0o711)
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def channel(fake: FakeSlack, tmp_path: Path, socket_dir: Path) -> Iterator[ChannelServer]:
    integrations = Integrations({"slack": settings_for(fake, tmp_path, "slack")})
    server = ChannelServer(integrations, socket_dir / "integrations.sock")
    server.start()
    yield server
    server.stop()
    integrations.close()


def run_hook(
    env: dict[str, str], calls: list[Any], prefix: list[str] | None = None, **kwargs: Any
) -> dict[str, Any]:
    client = kwargs.pop("client", str(CLIENT))
    result = subprocess.run(
        [*(prefix or []), SYSTEM_PYTHON, "-I", "-c", HOOK, client, json.dumps(calls)],
        env={"PATH": "/usr/bin:/bin", **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
        **kwargs,
    )
    decoded: dict[str, Any] = json.loads(result.stdout)
    return decoded


def test_a_hook_calls_integrations_without_their_credentials(
    channel: ChannelServer, fake: FakeSlack
) -> None:
    env = channel.open_run(RunContext("run-1", SLACK, requester="dev@acme.io"))
    calls = [
        ["slack", "users_in_channel", {"channel": "#ops"}],
        [
            "slack",
            "resolve_destination",
            {"destination": {"type": "slack_channel", "name": "#ops"}},
        ],
        [
            "slack",
            "send_message",
            {"destination": {"type": "slack_user", "id": "U02"}, "message": "hi"},
        ],
        ["slack", "users_in_channel", {"channel": "#nope"}],
        ["slack", "update_message", {"channel": "C01", "ts": "1", "message": "forged"}],
        ["pagerduty", "is_on_call", {"user": "dev@acme.io"}],
        ["slack", "get_user_info", {"user": "dev@acme.io", "surprise": True}],
    ]
    result = run_hook(env, calls)
    members, approvers, sent, missing, forged, unconfigured, bad_args = result["answers"]
    assert [p["email"] for p in members["value"]] == ["dev@acme.io", "boss@acme.io"]
    assert approvers == {"value": ["boss@acme.io"]}  # the requester is left out
    assert sent["value"]["channel"] == "D02"  # the DM the channel opened
    assert fake.messages[0]["text"] == "hi"
    assert (missing["error"], missing["code"]) == ("SlackError", "channel_not_found")
    assert "no channel #nope" in missing["message"]
    assert forged["error"] == "SymIntegrationError" and "not available" in forged["message"]
    assert unconfigured["error"] == "SymIntegrationError"
    assert "[integrations.pagerduty]" in unconfigured["message"]
    assert bad_args["error"] == "SymIntegrationError"
    assert fake.token not in json.dumps(result)  # not in the hook's environment or answers
    assert set(result["env"]) - {"PATH", "LC_CTYPE"} == set(env)


def test_each_run_has_its_own_token(channel: ChannelServer) -> None:
    first = channel.open_run(RunContext("run-1", SLACK))
    second = channel.open_run(RunContext("run-2", SLACK))
    assert first[channel_client.TOKEN_ENV] != second[channel_client.TOKEN_ENV]
    call = [["slack", "mention", {"user": "boss@acme.io"}]]
    assert run_hook(first, call)["answers"] == [{"value": "<@U02>"}]
    channel.close_run(first[channel_client.TOKEN_ENV])
    closed = run_hook(first, call)["answers"][0]
    assert closed["error"] == "SymIntegrationError" and "closed" in closed["message"]
    assert run_hook(second, call)["answers"] == [{"value": "<@U02>"}]
    forged = {**second, channel_client.TOKEN_ENV: "guessed"}
    assert "closed" in run_hook(forged, call)["answers"][0]["message"]
    nothing = run_hook({}, call)["answers"][0]
    assert "not available to this run" in nothing["message"]


def test_a_run_reaches_only_the_integrations_its_flow_lists(
    fake: FakeSlack, tmp_path: Path, socket_dir: Path
) -> None:
    slack = settings_for(fake, tmp_path, "slack")
    integrations = Integrations({"slack": slack, "slack-eng": slack})
    server = ChannelServer(integrations, socket_dir / "integrations.sock")
    server.start()
    try:
        call = [["slack", "mention", {"user": "boss@acme.io"}]]
        unlisted = run_hook(server.open_run(RunContext("run-1")), call)["answers"][0]
        assert unlisted["error"] == "SymIntegrationError"
        assert "not among this flow's integrations" in unlisted["message"]
        by_type = server.open_run(RunContext("run-2", frozenset({"slack-eng"})))
        assert run_hook(by_type, call)["answers"] == [{"value": "<@U02>"}]
        other = [["slack-eng", "mention", {"user": "boss@acme.io"}]]
        listed = server.open_run(RunContext("run-3", SLACK))
        assert "not among" in run_hook(listed, other)["answers"][0]["message"]
    finally:
        server.stop()
        integrations.close()


def test_thread_messages_reply_under_the_runs_own_message(
    channel: ChannelServer, fake: FakeSlack
) -> None:
    announced = fake.messages
    env = channel.open_run(RunContext("run-1", SLACK, slack_thread=("C01", "1700000000.000042")))
    reply = [["slack", "send_thread_message", {"message": "escalated"}]]
    assert "value" in run_hook(env, reply)["answers"][0]
    assert announced[-1]["thread_ts"] == "1700000000.000042"
    unannounced = channel.open_run(RunContext("run-2", SLACK))
    answer = run_hook(unannounced, reply)["answers"][0]
    assert answer["error"] == "SlackError" and "no Slack message" in answer["message"]
    smuggled = [["slack", "send_thread_message", {"message": "x", "channel": "C99"}]]
    assert run_hook(env, smuggled)["answers"][0]["error"] == "SymIntegrationError"


def test_the_hook_side_client_is_standard_library_python_3_9() -> None:
    tree = ast.parse(CLIENT.read_text(), feature_version=(3, 9))
    imported = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    imported |= {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
    roots = {name.split(".")[0] for name in imported}
    assert roots <= set(sys.stdlib_module_names) | {"__future__"}, roots


def raw(path: Path, payload: bytes) -> bytes:
    with socket.socket(socket.AF_UNIX) as conn:
        conn.settimeout(30)
        conn.connect(str(path))
        try:
            conn.sendall(payload)
            conn.shutdown(socket.SHUT_WR)
        except BrokenPipeError:  # the daemon stopped reading an oversized request
            pass
        return b"".join(iter(lambda: conn.recv(65536), b""))


def test_malformed_requests_are_answered_and_the_channel_lives_on(
    channel: ChannelServer,
) -> None:
    env = channel.open_run(RunContext("run-1", SLACK))
    token = env[channel_client.TOKEN_ENV]
    lines = [
        b"not json\n",
        b"[1, 2]\n",
        json.dumps({"token": token}).encode() + b"\n",
        json.dumps({"token": token, "integration": "slack", "function": 1, "args": {}}).encode()
        + b"\n",
    ]
    answers = [json.loads(a) for a in raw(channel.socket_path, b"".join(lines)).splitlines()]
    assert len(answers) == 4
    assert all(a["ok"] is False and a["error"] == "SymIntegrationError" for a in answers)
    huge = b"{" + b" " * (2 * 1024 * 1024) + b"}\n"
    written = io.BytesIO()
    channel.serve_connection(io.BytesIO(huge + lines[0]), written)
    assert b"too large" in written.getvalue()
    assert written.getvalue().count(b"\n") == 1  # nothing after it is read
    with contextlib.suppress(ConnectionResetError):  # the daemon hangs up on it
        raw(channel.socket_path, huge)
    assert run_hook(env, [["slack", "mention", {"user": "U01"}]])["answers"] == [
        {"value": "<@U01>"}
    ]


@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("bwrap"), reason="needs root and bwrap")
def test_a_sandboxed_hook_under_another_account_reaches_its_channel(
    channel: ChannelServer, socket_dir: Path
) -> None:
    client = socket_dir / "channel_client.py"
    shutil.copy(CLIENT, client)
    client.chmod(0o644)
    env = channel.open_run(RunContext("run-1", SLACK))
    inside = "/run/hookrunner/integrations.sock"
    sandbox = [
        "bwrap",
        *("--ro-bind", "/usr", "/usr"),
        *("--symlink", "usr/lib", "/lib"),
        *("--symlink", "usr/lib64", "/lib64"),
        *("--symlink", "usr/bin", "/bin"),
        *("--proc", "/proc", "--dev", "/dev", "--tmpfs", "/run"),
        *("--bind", str(channel.socket_path), inside),
        *("--ro-bind", str(client), "/run/hookrunner/channel_client.py"),
        *("--unshare-all", "--die-with-parent"),
    ]
    calls = [["slack", "users_in_channel", {"channel": "C01"}]]
    result = run_hook(
        {**env, channel_client.SOCKET_ENV: inside},
        calls,
        prefix=sandbox,
        client="/run/hookrunner/channel_client.py",
        user=NOBODY,
        group=NOBODY,
    )
    assert [p["email"] for p in result["answers"][0]["value"]] == ["dev@acme.io", "boss@acme.io"]


# A flow hook that uses its channel, leaves its token for the test, then overstays.
OVERSTAYING_HOOK = """
import os, sys, time
sys.path.insert(0, os.path.dirname(os.environ["CLIENT"]))
import channel_client
with open(os.environ["TOKEN_OUT"], "w") as out:
    out.write(os.environ["HOOKRUNNER_INTEGRATIONS_TOKEN"])
print(channel_client.call("slack", "mention", {"user": "boss@acme.io"}), flush=True)
if os.environ["HOOKRUNNER_EVENT"] == "slow":
    time.sleep(60)
"""


@pytest.mark.parametrize("event", ["quick", "slow"])
def test_a_flow_run_gets_a_token_that_dies_with_it_even_on_timeout(
    channel: ChannelServer, tmp_path: Path, event: str
) -> None:
    flow_dir = tmp_path / "flows" / "chat"
    flow_dir.mkdir(parents=True)
    (flow_dir / "impl.py").write_text("")
    (flow_dir / "flow.toml").write_text('integrations = ["slack"]\n')
    runbook = flow_dir / "escalate.runbook.py"
    runbook.write_text(OVERSTAYING_HOOK)
    flow = load_flow(build_index(Snapshot("c0ffee", tmp_path)), "chat")
    token_out = tmp_path / "token"
    env = {"CLIENT": str(CLIENT), "TOKEN_OUT": str(token_out)}
    settings = ExecutorSettings(interpreter=SYSTEM_PYTHON, env=env, timeout=3, kill_grace=1)
    runner = FlowRunner(settings, HookRuntime(), "c0ffee", "e", channel)
    call = asyncio.run(runner.runbook(flow, runbook, {"name": event}, "req"))
    assert call.result.stdout.strip() == "<@U02>"
    assert call.result.status == ("timed_out" if event == "slow" else "succeeded")
    stale = {channel_client.SOCKET_ENV: str(channel.socket_path),
             channel_client.TOKEN_ENV: token_out.read_text()}  # fmt: skip
    answer = run_hook(stale, [["slack", "mention", {"user": "boss@acme.io"}]])["answers"][0]
    assert answer["error"] == "SymIntegrationError" and "closed" in answer["message"]
