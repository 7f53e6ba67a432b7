"""The Sym-style flows of ``tests/sym_flows``: the event model, every module, fail-closed cases."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
from sym_harness import FLOWS, event_document, run_harness

HOST_PYTHON = "/usr/bin/python3"
INTERPRETERS = [sys.executable] + (
    [HOST_PYTHON]
    if os.path.exists(HOST_PYTHON)
    and os.path.realpath(HOST_PYTHON) != os.path.realpath(sys.executable)
    else []
)


@pytest.fixture(params=INTERPRETERS)
def interpreter(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def test_every_corpus_flow_describes_as_expected(interpreter: str, tmp_path: Path) -> None:
    described = {
        flow.name: run_harness(flow / "impl.py", "describe", None, tmp_path, interpreter).result
        for flow in sorted(FLOWS.iterdir())
    }
    assert described.pop("bad_import") == {
        "ok": False,
        "error": "ImportError: cannot import name 'datadog' from 'sym.sdk.integrations' ("
        + str(Path(__file__).parents[1] / "hookrunner/flows/sym/sdk/integrations/__init__.py")
        + ")",
    }
    assert described.pop("unknown_reducer")["value"] == {
        "hooks": ["on_request"], "reducers": [], "prefetch": [], "strategy": None,
        "unknown": ["get_aprovers", "get_permissions", "on_aprove"],
    }  # fmt: skip
    assert all(answer["ok"] and not answer["value"]["unknown"] for answer in described.values())
    assert described["wrong_returns"]["value"]["prefetch"] == ["database"]


def test_the_event_model_matches_sym(interpreter: str, tmp_path: Path) -> None:
    flow = FLOWS / "event_model"
    fields = {
        "minutes": "45", "urgent": "true", "window": "2h", "dbs": ["a", "b"],
        "reviewer": "rev@acme.io", "target": "orders-ro", "note": {"free": "form"},
    }  # fmt: skip
    event = event_document(
        flow, "approve", "boss@acme.io", fields,
        contexts={"request": {"ticket": "OPS-1"}},
        source_channel={"type": "slack", "identifier": "#access"},
    )  # fmt: skip
    event["user"] = {
        "email": "boss@acme.io",
        "role": "admin",
        "identities": {"slack": [{"service_id": "T0123", "user_id": "U0BOSS"}]},
    }
    report = run_harness(flow / "impl.py", "on_approve", event, tmp_path, interpreter).value
    assert report["directive"] == "approve"
    facts = report["fields"]
    assert all(facts.pop("types")), facts
    assert all(facts.pop("missing")), "an unknown attribute answered instead of raising"
    assert facts == {
        "name": "approve",
        "user": ["boss@acme.io", "boss@acme.io", "admin"],
        "payload_user_is_actor": True,
        "requester": ["dev@acme.io", True],
        "lookalike_equal": True,
        "admin": True,
        "channel": ["api", None],
        "source_channel": "slack",
        "actors": ["approve", "request"],
        "context": {"ticket": "OPS-1"},
        "no_context": None,
        "no_actor": None,
        "template": "hookrunner:template:approval:1.0.0",
        "meta": "hookrunner:access_request:event-model:latest:req-1",
        "payload_srn": ["access_request", "req-1"],
        "flow": ["event-model", "event-model", "data"],
        "prompt_fields": {"minutes": "int", "urgent": "bool", "window": "duration",
                          "dbs": "list", "reviewer": "user", "target": "target"},
        "integration": ["slack", "slack-1", {}],
        "strategy": ["runbook", ["orders-ro", "orders-rw"]],
        "fields": {
            "minutes": 45, "urgent": True, "window": 7200, "dbs": ["a", "b"],
            "reviewer": "rev@acme.io",
            "target": ["orders-ro", "Orders (read only)", "custom", {"identifier": "ro-orders"}],
            "untyped": {"free": "form"},
        },
        "slack_identity": "U0BOSS",
        "no_identity": None,
    }  # fmt: skip


@pytest.mark.parametrize(
    ("field", "value"),
    [("minutes", "soon"), ("urgent", "maybe"), ("window", "a while"), ("target", "orders-admin"),
     ("reviewer", {"name": "no e-mail"}), ("dbs", "a,b")],
)  # fmt: skip
def test_a_field_that_does_not_fit_its_type_fails_the_hook(
    field: str, value: object, tmp_path: Path
) -> None:
    flow = FLOWS / "event_model"
    event = event_document(flow, "approve", "boss@acme.io", {field: value})
    error = run_harness(flow / "impl.py", "on_approve", event, tmp_path).error
    assert error.startswith(f"SDKError: field {field!r}"), error


def test_legacy_and_native_names_are_the_same_runtime(interpreter: str, tmp_path: Path) -> None:
    impl = FLOWS / "legacy_imports/impl.py"
    event = event_document(impl.parent, "request", "dev@acme.io")
    assert run_harness(impl, "get_approvers", event, tmp_path, interpreter).value == {
        "destination": {"type": "slack_channel", "name": "#legacy", "allow_self": False,
                        "timeout": None},
    }  # fmt: skip
    assert run_harness(impl, "on_request", event, tmp_path, interpreter).value["message"] == (
        "legacy names work"
    )


def test_every_integration_call_fails_naming_its_configuration(tmp_path: Path) -> None:
    impl = FLOWS / "integrations/impl.py"
    event = event_document(impl.parent, "request", "dev@acme.io")
    event["flow"]["environment"]["integrations"] = {
        "okta": {"type": "okta", "external_id": "acme.okta.com", "settings": {}}
    }
    answers = run_harness(impl, "on_request", event, tmp_path).value["fields"]
    assert len(answers) == 43
    for call, answer in answers.items():
        integration = call.split(".")[0]
        integration = {"secret": "secrets"}.get(integration, integration)
        if integration == "user":  # nothing to configure: no history to count from
            assert "User.get_event_count('approve'): hookrunner gives hooks no history" in answer
        elif integration == "okta":
            # configured, so asked of the daemon: this run has no channel to ask through
            unreachable = "integrations are not available to this run"
            assert answer.endswith(f"{unreachable} (HOOKRUNNER_INTEGRATIONS_SOCKET is not set)")
        else:
            assert f"integration {integration!r} is not configured: add [integrations." in answer
        assert not answer.startswith("returned"), f"{call} answered instead of failing"


def test_a_reducer_that_raises_is_the_reducers_failure(tmp_path: Path) -> None:
    impl = FLOWS / "reducer_raises/impl.py"
    event = event_document(impl.parent, "approve", "boss@acme.io")
    assert run_harness(impl, "get_permissions", event, tmp_path).error == (
        "KeyError: 'approvers_group'"
    )
    failed = run_harness(impl, "get_approvers", event, tmp_path)
    assert failed.error == "RuntimeError: directory unavailable"
    assert failed.completed.returncode == 1 and "Traceback" in failed.completed.stderr
    event["request"] = None
    assert run_harness(impl, "prefetch:database", event, tmp_path).error == (
        "TimeoutError: catalog did not answer"
    )


@pytest.mark.parametrize(
    ("name", "mode", "error"),
    [
        ("get_permissions", None, "get_permissions returned dict; expected a RequestPermission"),
        ("get_request_notifications", None,
         "get_request_notifications returned Notification; expected a list of Notification"),
        ("get_approvers", "none", "get_approvers returned NoneType; expected a destination"),
        ("get_approvers", "bare", "RequestDestination is not a destination hookrunner can use"),
        ("get_approvers", "name", "get_approvers returned str; expected users, their user_ids()"),
        ("get_approvers", "one", "get_approvers returned str; expected a destination"),
        ("prefetch:database", None, "prefetch:database returned str; expected a list of"),
        ("on_request", None, "on_request returned bool; expected None or an ApprovalTemplate"),
        ("on_approve", None, "on_approve returned float; expected a finite number"),
    ],
)  # fmt: skip
def test_a_wrong_return_type_is_refused(
    name: str, mode: str | None, error: str, tmp_path: Path
) -> None:
    impl = FLOWS / "wrong_returns/impl.py"
    event = event_document(impl.parent, "approve", "boss@acme.io", {"mode": mode})
    failed = run_harness(impl, name, event, tmp_path)
    assert error in failed.error, failed.error
    assert failed.completed.returncode == 1


def test_a_slack_destination_is_answered_for_the_daemon_to_refuse(tmp_path: Path) -> None:
    impl = FLOWS / "slack_destination/impl.py"
    event = event_document(impl.parent, "approve", "boss@acme.io")
    assert not event["flow"]["environment"]["integrations"]
    assert run_harness(impl, "get_approvers", event, tmp_path).value == {
        "destination": {"type": "slack_channel", "name": "#prod-approvers", "allow_self": False,
                        "timeout": None},
    }  # fmt: skip
