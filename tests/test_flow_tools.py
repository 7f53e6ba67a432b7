"""The flow harness, ``validate`` on flows, and ``dry-run flow``: real processes, no daemon."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from test_cli import run

from hookrunner.flows.harness import EVENT_ENV, RESULT_ENV
from hookrunner.flows.runner import HARNESS

NOISY_IMPL = """\
import sys
from helpers import banner
from sym.sdk.annotations import hook, reducer
from sym.sdk.templates import ApprovalTemplate


@hook
def on_approve(event):
    print('{"directive": "approve"}')  # a print that looks like a result
    print(banner(event.user.username), file=sys.stderr)
    if event.get_actor("request").email == event.user.email:
        return ApprovalTemplate.ignore(message="no self-service")
    return ApprovalTemplate.escalate(reason=event.payload.fields["reason"])


@reducer
def get_approvers(event):
    from hookrunner.sdk import User
    return [User("a@example.com"), "b@example.com"]


@hook
def on_deny(event):
    raise KeyError("boom")


@hook
def after_deny(event):
    return 42
"""

EVENT = {
    "name": "approve",
    "timestamp": "2026-11-21T20:00:00+00:00",
    "user": {"email": "boss@example.com", "role": "admin"},
    "channel": {"type": "api", "identifier": None},
    "flow": {
        "srn": "hookrunner:flow:demo:latest", "slug": "demo", "fields": [], "targets": [],
        "vars": {}, "strategy": {"type": "runbook", "targets": []},
        "environment": {"name": "hookrunner", "integrations": {}}, "allow_revoke": True,
    },
    "payload": {
        "srn": "hookrunner:access_request:demo:latest:r1",
        "timestamp": "2026-11-21T20:00:00+00:00",
        "user": {"email": "dev@example.com", "role": "member"},
        "fields": {"reason": "ticket 7"},
    },
    "request": {
        "id": "r1", "flow": "demo", "state": "pending", "requester": {"email": "dev@example.com"},
        "fields": {}, "duration_s": 3600, "created_at": 0.0, "escalated_at": None,
        "expires_at": 0.0, "history": [],
    },
    "actors": {"request": {"email": "dev@example.com"}},
    "step_outputs": {},
}  # fmt: skip


def harness(
    tmp_path: Path, name: str, event: dict[str, Any], interpreter: str = sys.executable
) -> tuple[subprocess.CompletedProcess[str], dict[str, Any]]:
    flow = tmp_path / "flow"
    flow.mkdir(exist_ok=True)
    (flow / "impl.py").write_text(NOISY_IMPL)
    (flow / "helpers.py").write_text("def banner(name):\n    return f'hello {name}'\n")
    result_file = tmp_path / "result.json"
    result_file.write_text("")
    completed = subprocess.run(
        [interpreter, str(HARNESS), str(flow / "impl.py"), name],
        env={
            "PATH": os.environ["PATH"],
            EVENT_ENV: json.dumps(event),
            RESULT_ENV: str(result_file),
        },
        cwd=flow,
        capture_output=True,
        text=True,
        timeout=60,
    )
    return completed, json.loads(result_file.read_text())


def test_hook_prints_never_reach_the_result(tmp_path: Path) -> None:
    completed, answer = harness(tmp_path, "on_approve", EVENT)
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout == '{"directive": "approve"}\n'
    assert "hello boss" in completed.stderr
    assert answer == {
        "ok": True,
        "value": {"directive": "escalate", "message": None, "fields": {"reason": "ticket 7"}},
    }


def test_ignore_reducer_errors_and_bad_returns(tmp_path: Path) -> None:
    self_service = {**EVENT, "user": {"email": "dev@example.com"}}
    assert harness(tmp_path, "on_approve", self_service)[1]["value"] == {
        "directive": "ignore", "message": "no self-service", "fields": {},
    }  # fmt: skip
    assert harness(tmp_path, "get_approvers", EVENT)[1] == {
        "ok": True, "value": {"users": ["a@example.com", "b@example.com"]},
    }  # fmt: skip
    completed, answer = harness(tmp_path, "on_deny", EVENT)
    assert completed.returncode == 1 and answer == {"ok": False, "error": "KeyError: 'boom'"}
    assert "Traceback" in completed.stderr
    answer = harness(tmp_path, "after_deny", EVENT)[1]
    assert answer["ok"] is False and "returned int" in answer["error"]
    answer = harness(tmp_path, "on_escalate", EVENT)[1]
    assert answer == {
        "ok": False,
        "error": "HandlerNotFound: impl.py has no @hook named on_escalate",
    }


def _working(interpreter: str) -> bool:
    # A version manager's shim may exist without a working interpreter behind it.
    probe = subprocess.run([interpreter, "-c", "pass"], capture_output=True, check=False)
    return probe.returncode == 0


PYTHON_3_9 = shutil.which("python3.9")


@pytest.mark.skipif(
    PYTHON_3_9 is None or not _working(PYTHON_3_9), reason="no working python3.9 here"
)
def test_sdk_and_harness_run_on_python_3_9(tmp_path: Path) -> None:
    interpreter = PYTHON_3_9
    assert interpreter is not None
    completed, answer = harness(tmp_path, "on_approve", EVENT, interpreter)
    assert completed.returncode == 0, completed.stderr
    assert answer["value"]["directive"] == "escalate"


FLOW_IMPL = """\
from hookrunner.sdk import ApprovalTemplate, hook, reducer


@hook
def on_aprove(event):
    pass


@hook
def on_request(event):
    pass


@hook
def on_request(event):
    print("requested by", event.user.email)


def after_deny(event):
    pass


@hook
def after_escalate(event):
    revoke_database_role(event.request.id)


@reducer
def get_aprovers(event):
    return []
"""


def test_validate_finds_flow_mistakes_by_parsing(tmp_path: Path) -> None:
    flow = tmp_path / "flows/demo"
    flow.mkdir(parents=True)
    (flow / "impl.py").write_text(FLOW_IMPL + "\nraise SystemExit('validate ran user code')\n")
    (flow / "flow.toml").write_text('max_duration = "1h"\ndefault_duration = "2h"\nbogus = 1\n')
    (tmp_path / "flows/Bad_Slug").mkdir()
    (tmp_path / "flows/broken").mkdir()
    (tmp_path / "flows/broken/impl.py").write_text("def x(:\n")
    result = run("validate", str(tmp_path))
    assert result.returncode == 2
    lines = result.stderr.splitlines()
    expected = [
        "flows/Bad_Slug:0: error: slug must match [a-z0-9][a-z0-9_-]{0,62}",
        "flows/broken/impl.py:1: error: syntax error: invalid syntax",
        "flows/demo/impl.py:5: error: unknown hook name on_aprove (did you mean on_approve?)",
        "flows/demo/impl.py:15: error: on_request is defined twice (first on line 10);"
        " only the last one runs",
        "flows/demo/impl.py:19: warning: after_deny is not decorated with @hook, so it never runs",
        "flows/demo/impl.py:29: error: unknown reducer get_aprovers (did you mean get_approvers?)",
        "flows/demo/impl.py:24: warning: after_escalate looks like it handles removal;"
        " did you mean after_deescalate?",
        "flows/demo/flow.toml:0: error: bogus: Extra inputs are not permitted",
    ]
    for line in expected:
        assert line in lines
    assert lines[-1] == "6 error(s), 3 warning(s)"


def test_validate_accepts_a_clean_flow(tmp_path: Path) -> None:
    flow = tmp_path / "flows/ok"
    flow.mkdir(parents=True)
    (flow / "impl.py").write_text(
        "from hookrunner.sdk import hook\n\n@hook\ndef on_request(e):\n    pass\n"
    )
    (flow / "flow.toml").write_text('approvers = ["a@example.com"]\nmax_duration = 7200\n')
    (tmp_path / "hoop-hooks").mkdir()
    (tmp_path / "hoop-hooks/session-open.runbook.py").write_text("print('hi')\n")
    result = run("validate", str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert result.stderr.strip() == "0 error(s), 0 warning(s)"


DRY_RUN_IMPL = """\
from hookrunner.sdk import ApprovalTemplate, hook


@hook
def on_approve(event):
    print("approving for", event.payload.fields.get("reason"))
    if not event.payload.fields.get("reason"):
        return ApprovalTemplate.ignore(message="say why")


@hook
def on_request_expire(event):
    print("expiring", event.request.id)
    return ApprovalTemplate.approve()
"""


@pytest.fixture
def dry_run_repo(tmp_path: Path) -> Path:
    flow = tmp_path / "flows/demo"
    flow.mkdir(parents=True)
    (flow / "impl.py").write_text(DRY_RUN_IMPL)
    marker = tmp_path / "granted"
    (flow / "escalate.runbook.py").write_text(f"open({str(marker)!r}, 'w').write('yes')\n")
    (tmp_path / "config.toml").write_text(f'[executor]\ninterpreter = "{sys.executable}"\n')
    return tmp_path


def dry_run_flow(repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    config = str(repo / "config.toml")
    return run("dry-run", "flow", *args, "--repo", str(repo), "--config", config)


def test_dry_run_flow_shows_a_refusal_without_a_journal(dry_run_repo: Path) -> None:
    result = dry_run_flow(dry_run_repo, "demo", "approve", "--user", "boss@example.com")
    assert result.returncode == 1, result.stderr  # refused
    assert "demo/on_approve: succeeded" in result.stdout
    assert "  | approving for None" in result.stdout
    assert "=> refused: 403 say why" in result.stdout
    assert "=> request dry-run is pending" in result.stdout
    assert not list(dry_run_repo.rglob("*.db"))


def test_dry_run_flow_approve_does_not_grant_but_escalate_does(dry_run_repo: Path) -> None:
    approve = dry_run_flow(
        dry_run_repo, "demo", "approve", "--user", "boss@example.com", "--field", "reason=x",
        "--json",
    )  # fmt: skip
    assert approve.returncode == 0, approve.stderr
    preview = json.loads(approve.stdout)
    assert preview["refusal"] is None and preview["request"]["state"] == "escalated"
    assert [run["hook"] for run in preview["runs"]] == ["demo/on_approve"]
    assert not (dry_run_repo / "granted").exists()
    escalate = dry_run_flow(dry_run_repo, "demo", "escalate", "--json")
    assert escalate.returncode == 0, escalate.stderr
    assert [run["hook"] for run in json.loads(escalate.stdout)["runs"]] == [
        "demo/escalate.runbook.py"
    ]
    assert (dry_run_repo / "granted").read_text() == "yes"


def test_dry_run_flow_expire_runs_the_expiry_hook_and_overrules_it(dry_run_repo: Path) -> None:
    result = dry_run_flow(dry_run_repo, "demo", "expire", "--json")
    assert result.returncode == 0, result.stderr
    preview = json.loads(result.stdout)
    assert preview["refusal"] is None and preview["request"]["state"] == "expired"
    (run,) = preview["runs"]
    assert run["hook"] == "demo/on_request_expire" and run["stdout"] == "expiring dry-run\n"
    events = [entry["event"] for entry in preview["request"]["history"]]
    assert events == ["request", "request_expire", "expire"]
    assert not (dry_run_repo / "granted").exists()


def test_dry_run_flow_unknown_flow_is_one_line(dry_run_repo: Path) -> None:
    result = dry_run_flow(dry_run_repo, "nope", "approve")
    assert result.returncode == 2
    assert result.stderr.strip() == "hookrunner: no flow 'nope' at commit working-tree"


def test_validate_imports_each_flow_in_the_harness(tmp_path: Path) -> None:
    flows = {
        "missing-module": "import no_such_module_anywhere\n",
        "name-error": "from sym.sdk.annotations import hook\n\nundefined_name\n",
        "undecorated": "def get_permissions(event):\n    return None\n",
        "clean": "from sym.sdk.annotations import hook\n\n@hook\ndef on_request(e):\n    pass\n",
        "pagerduty": "from sym.sdk.integrations import pagerduty\n",
    }
    for slug, impl in flows.items():
        (tmp_path / "flows" / slug).mkdir(parents=True)
        (tmp_path / "flows" / slug / "impl.py").write_text(impl)
    (tmp_path / "flows/pagerduty/flow.toml").write_text('integrations = ["pagerduty"]\n')
    (tmp_path / "config.toml").write_text(f'[executor]\ninterpreter = "{sys.executable}"\n')
    config = ["--config", str(tmp_path / "config.toml")]
    result = run("validate", str(tmp_path), *config)
    assert result.returncode == 2
    errors = [line for line in result.stderr.splitlines() if ": error: " in line]
    assert len(errors) == 4, result.stderr
    assert any(
        line.startswith("flows/missing-module/impl.py:0: error:")
        and "No module named 'no_such_module_anywhere'" in line
        for line in errors
    )
    assert any("name-error" in line and "NameError" in line for line in errors)
    assert any("undecorated" in line and "get_permissions" in line for line in errors)
    assert any("integration 'pagerduty' is not configured" in line for line in errors)
    assert not list(tmp_path.rglob("__pycache__"))
    parsed_only = run("validate", str(tmp_path), "--no-import", *config)
    assert parsed_only.returncode == 0, parsed_only.stderr


def test_dry_run_flow_of_a_broken_flow_is_refused_with_exit_1(dry_run_repo: Path) -> None:
    (dry_run_repo / "flows/demo/impl.py").write_text("import no_such_module_anywhere\n")
    result = dry_run_flow(dry_run_repo, "demo", "request", "--user", "dev@example.com", "--json")
    assert result.returncode == 1, result.stderr
    refusal = json.loads(result.stdout)["refusal"]
    assert refusal.startswith("503 flow demo is not served: demo/impl.py does not import")
    assert not list(dry_run_repo.rglob("__pycache__"))
