"""The harness protocol of the contract notes, end to end over real subprocesses."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from sym_harness import FLOWS, event_document, run_harness


@pytest.fixture
def policy(tmp_path: Path) -> Path:
    """A copy of the policy flow, so a test can see what the run left in its directory."""
    flow = tmp_path / "policy"
    shutil.copytree(FLOWS / "policy", flow)
    return flow


def fields(**overrides: object) -> dict[str, object]:
    return {"database": "orders", "minutes": "30", "urgent": "false", "target": "orders-ro",
            **overrides}  # fmt: skip


def test_describe_lists_what_impl_defines(policy: Path, tmp_path: Path) -> None:
    run = run_harness(policy / "impl.py", "describe", None, tmp_path)
    assert run.value == {
        "hooks": ["after_approve", "on_request"],
        "reducers": ["get_approvers", "get_permissions", "get_request_notifications"],
        "prefetch": ["database"],
        "strategy": None,
        "unknown": [],
    }


def test_the_harness_writes_no_bytecode_into_the_flow(policy: Path, tmp_path: Path) -> None:
    event = event_document(policy, "request", "dev@acme.io", fields())
    assert run_harness(policy / "impl.py", "get_permissions", event, tmp_path).value
    assert run_harness(policy / "impl.py", "describe", None, tmp_path).value
    # impl.py imported its sibling team.py: without the rule, team's bytecode lands here.
    assert not list(policy.rglob("__pycache__")), list(policy.rglob("*"))


def test_get_permissions_answers_levels_and_people(policy: Path, tmp_path: Path) -> None:
    event = event_document(policy, "approve", "boss@acme.io", fields(urgent=True))
    assert run_harness(policy / "impl.py", "get_permissions", event, tmp_path).value == {
        "webapp_view": "MEMBER",
        "approve_deny": {"users": ["boss@acme.io", "lead@acme.io", "second@acme.io"]},
        "allow_self_approval": True,
    }
    event["flow"]["vars"]["open_flow"] = "yes"
    assert run_harness(policy / "impl.py", "get_permissions", event, tmp_path).value == {
        "webapp_view": "ALL_USERS", "approve_deny": "MEMBER", "allow_self_approval": False,
    }  # fmt: skip


def test_get_request_notifications_answers_every_destination_shape(
    policy: Path, tmp_path: Path
) -> None:
    event = event_document(policy, "request", "dev@acme.io", fields())
    run = run_harness(policy / "impl.py", "get_request_notifications", event, tmp_path)

    def user(**key: str) -> dict[str, object]:
        return {"type": "slack_user", **key, "allow_self": False, "timeout": None}

    assert run.value == [
        {"destinations": [{"type": "slack_channel", "name": "#db-access", "allow_self": False,
                           "timeout": 600}], "timeout": 900},
        {"destinations": [{"type": "slack_channel_id", "id": "C0DBTEAM1", "allow_self": False,
                           "timeout": None}], "timeout": None},
        {"destinations": [{**user(id="U0LEAD001"), "allow_self": True}], "timeout": None},
        {"destinations": [user(email="dev@acme.io")], "timeout": None},
        {"destinations": [{"type": "slack_group", "users": [user(email="lead@acme.io"),
                           user(email="dev@acme.io")], "allow_self": False, "timeout": None}],
         "timeout": None},
    ]  # fmt: skip


def test_get_approvers_answers_people_or_a_destination(policy: Path, tmp_path: Path) -> None:
    event = event_document(policy, "approve", "boss@acme.io", fields())
    assert run_harness(policy / "impl.py", "get_approvers", event, tmp_path).value == {
        "users": ["lead@acme.io", "second@acme.io"]
    }
    event["payload"]["fields"]["urgent"] = True
    assert run_harness(policy / "impl.py", "get_approvers", event, tmp_path).value == {
        "destination": {
            "type": "fallback",
            "destinations": [
                {"type": "slack_channel", "name": "#oncall", "allow_self": False, "timeout": None},
                {"type": "slack_user", "email": "lead@acme.io", "allow_self": False,
                 "timeout": None},
            ],
            "continue_on_delivery_failure": True,
            "continue_on_timeout": True,
        }
    }  # fmt: skip


def test_prefetch_answers_field_options(policy: Path, tmp_path: Path) -> None:
    event = event_document(policy, "prompt", "dev@acme.io", request=None)
    assert run_harness(policy / "impl.py", "prefetch:database", event, tmp_path).value == [
        {"value": "orders", "label": "Orders"},
        {"value": "billing", "label": "Billing"},
    ]
    missing = run_harness(policy / "impl.py", "prefetch:nope", event, tmp_path)
    assert missing.error == "HandlerNotFound: impl.py has no @prefetch reducer for field 'nope'"


def test_hooks_answer_directives_with_target_and_duration(policy: Path, tmp_path: Path) -> None:
    event = event_document(policy, "request", "lead@acme.io", fields(urgent=True, minutes=20))
    assert run_harness(policy / "impl.py", "on_request", event, tmp_path).value == {
        "directive": "approve",
        "message": None,
        "fields": {
            "by": "lead@acme.io",
            "target_srn": "hookrunner:access_target:custom:orders-ro:latest",
            "duration": 1200,
        },
    }
    event = event_document(policy, "request", "dev@acme.io", fields(minutes=90))
    assert run_harness(policy / "impl.py", "on_request", event, tmp_path).value == {
        "directive": "ignore", "message": "more than an hour needs urgent=true", "fields": {},
    }  # fmt: skip
    event = event_document(policy, "request", "dev@acme.io", fields())
    assert run_harness(policy / "impl.py", "on_request", event, tmp_path).value is None
    after = run_harness(policy / "impl.py", "after_approve", event, tmp_path)
    assert after.value is None
    assert after.completed.stdout == "approved by dev@acme.io for dev@acme.io\n"


def test_a_custom_strategy_runs_as_the_escalate_and_deescalate_steps(tmp_path: Path) -> None:
    impl = FLOWS / "custom_strategy/impl.py"
    assert run_harness(impl, "describe", None, tmp_path).value["strategy"] == "GrantsApi"
    event = event_document(impl.parent, "escalate", "boss@acme.io", {"target": "warehouse"})
    escalated = run_harness(impl, "strategy:escalate", event, tmp_path)
    assert escalated.value is None
    assert escalated.step_output == {"grant": "acct-dev@wh-1", "label": "Data warehouse"}
    event = event_document(
        impl.parent, "deescalate", "dev@acme.io", {"target": "warehouse"},
        step_outputs={"escalate": escalated.step_output},
    )  # fmt: skip
    removed = run_harness(impl, "strategy:deescalate", event, tmp_path)
    assert removed.value is None
    assert removed.step_output == {"revoked": "acct-dev@wh-1", "identity": "acct-dev"}
    event["name"] = "escalate"
    after = run_harness(impl, "after_escalate", event, tmp_path)
    assert after.completed.stdout == "granted acct-dev@wh-1\n"


def test_unknown_names_are_refused(policy: Path, tmp_path: Path) -> None:
    event = event_document(policy, "request", "dev@acme.io", fields())
    assert run_harness(policy / "impl.py", "on_deny", event, tmp_path).error == (
        "HandlerNotFound: impl.py has no @hook named on_deny"
    )
    assert run_harness(policy / "impl.py", "strategy:escalate", event, tmp_path).error == (
        "HandlerNotFound: impl.py defines no AccessStrategy subclass"
    )
    assert run_harness(policy / "impl.py", "rm -rf", event, tmp_path).error.startswith(
        "HandlerNotFound: 'rm -rf' is not a hook"
    )


def test_a_strategy_beside_impl_py_is_found_and_needs_an_identity(tmp_path: Path) -> None:
    impl = FLOWS / "strategy_file/impl.py"
    assert run_harness(impl, "describe", None, tmp_path).value["strategy"] == "TicketAccess"
    event = event_document(impl.parent, "escalate", "boss@acme.io", {"target": "support-tool"})
    missing = run_harness(impl, "strategy:escalate", event, tmp_path)
    assert missing.error.startswith("IdentityNotFound: No identity found for dev@acme.io")
    assert missing.step_output is None
    event["actors"]["request"]["identities"] = {
        "slack": [{"service_id": "slack-1", "user_id": "U0DEV"}]
    }
    event["flow"]["strategy"]["integration"] = "slack"
    escalated = run_harness(impl, "strategy:escalate", event, tmp_path)
    assert escalated.value is None
    assert escalated.step_output == {"ticket_for": "U0DEV", "target": "support-tool"}
    event["name"] = "deescalate"
    assert run_harness(impl, "strategy:deescalate", event, tmp_path).step_output == {}


def test_two_strategies_fail_describe(tmp_path: Path) -> None:
    flow = tmp_path / "two"
    shutil.copytree(FLOWS / "custom_strategy", flow)
    with (flow / "impl.py").open("a") as impl:
        impl.write("\n\nclass Another(GrantsApi):\n    pass\n")
    assert run_harness(flow / "impl.py", "describe", None, tmp_path).error == (
        "HandlerNotFound: more than one AccessStrategy subclass: Another, GrantsApi"
    )
