"""The flow engine's rules on their own, without a daemon or a hook process: the state
table, canonical e-mails, field checks at intake, the shapes of the harness's answers
and who may approve."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hookrunner.config import IntegrationSettings, RoleSettings
from hookrunner.flows import answers, permissions
from hookrunner.flows.definition import FlowSettings
from hookrunner.flows.errors import Conflict, Invalid, MalformedAnswer, Refused
from hookrunner.flows.fields import check_fields
from hookrunner.flows.identity import canonical_email, canonical_pattern
from hookrunner.flows.states import REDIRECTABLE, RULES, TABLE, rule_for
from hookrunner.journal.records import REQUEST_STATES, plain_object

# --- the state table -------------------------------------------------------------------

ORDER = {state: n for n, state in enumerate(("pending", "approved", "escalated"))}


def test_every_transition_moves_forward_to_a_known_state() -> None:
    for rule in TABLE:
        assert rule.to_state in REQUEST_STATES
        assert set(rule.from_states) <= set(REQUEST_STATES)
        assert rule.to_state not in rule.from_states
        for state in rule.from_states:
            assert ORDER.get(rule.to_state, 99) > ORDER[state], rule


def test_only_escalate_and_removals_run_the_strategy() -> None:
    steps = {rule.event: rule.step for rule in TABLE}
    assert steps == {
        "approve": "record", "deny": "record", "expire": "record",
        "escalate": "escalate", "deescalate": "deescalate", "revoke": "deescalate",
    }  # fmt: skip


@pytest.mark.parametrize(
    ("event", "state", "allowed"),
    [
        ("approve", "pending", True),
        ("approve", "approved", False),
        ("deny", "escalated", False),
        ("escalate", "approved", True),
        ("escalate", "pending", False),
        ("deescalate", "escalated", True),
        ("deescalate", "approved", False),
        ("revoke", "approved", True),
        ("revoke", "escalated", True),
        ("revoke", "revoked", False),
        ("expire", "pending", True),
        ("expire", "denied", False),
    ],
)
def test_rule_for_refuses_a_state_the_event_cannot_start_from(
    event: str, state: str, allowed: bool
) -> None:
    if allowed:
        assert rule_for(event, state, "r1") is RULES[event]
    else:
        with pytest.raises(Conflict, match=f"request r1 is {state}; cannot {event}"):
            rule_for(event, state, "r1")


def test_a_hook_cannot_redirect_to_prompt_or_request() -> None:
    assert {"approve", "deny", "escalate", "deescalate"} == REDIRECTABLE


# --- canonical e-mails -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "canonical"),
    [
        ("Dev@Example.com", "dev@example.com"),
        ("\u212aate@example.com", "kate@example.com"),  # Kelvin sign
        ("\uff44ev@example.com", "dev@example.com"),  # fullwidth d
        ("dev@\uff45xample.com", "dev@example.com"),
        ("STRASSE@example.com", "strasse@example.com"),
    ],
)
def test_look_alikes_are_the_same_person(raw: str, canonical: str) -> None:
    assert canonical_email(raw) == canonical


@pytest.mark.parametrize(
    "raw",
    [
        " dev@example.com",
        "dev@example.com\n",
        "dev",
        "dev@localhost",
        "dev@@example.com",
        "d\u0435v@example.com",  # Cyrillic e: not canonicalised into anyone, refused
        "dev@example.com\u200b",
        "\udc00@example.com",
        "a" * 250 + "@example.com",
        "",
    ],
)
def test_implausible_addresses_are_refused(raw: str) -> None:
    with pytest.raises(Invalid):
        canonical_email(raw)


@given(st.text(max_size=40))
def test_canonical_form_is_stable_or_refused(raw: str) -> None:
    try:
        once = canonical_email(raw)
    except Invalid:
        return
    assert canonical_email(once) == once
    assert once.isascii()


def test_role_patterns_are_canonical_globs() -> None:
    assert canonical_pattern("*@ACME.io") == "*@acme.io"
    with pytest.raises(Invalid):
        canonical_pattern("everyone")


# --- fields at intake ----------------------------------------------------------------------

TYPED = FlowSettings.model_validate(
    {
        "fields": [
            {"name": "db", "type": "string", "required": True, "allowed_values": ["orders"]},
            {"name": "rows", "type": "int"},
            {"name": "ro", "type": "bool", "default": True},
            {"name": "for", "type": "duration"},
            {"name": "tables", "type": "list", "allowed_values": ["a", "b"]},
            {"name": "buddy", "type": "user"},
        ],
        "targets": [{"name": "orders-ro", "label": "Orders (read)"}],
    }
)


def test_typed_fields_are_checked_and_normalised() -> None:
    checked = check_fields(
        TYPED,
        {"db": "orders", "rows": 3, "for": "30m", "tables": ["a"], "buddy": "Pal@Example.com",
         "target": "orders-ro", "reason": "INC-1"},
    )  # fmt: skip
    assert checked == {
        "db": "orders", "rows": 3, "ro": True, "for": 1800.0, "tables": ["a"],
        "buddy": "pal@example.com", "target": "orders-ro", "reason": "INC-1",
    }  # fmt: skip


def test_ints_and_bools_given_as_text_are_typed() -> None:
    checked = check_fields(
        TYPED, {"db": "orders", "rows": "-3", "ro": "False", "target": "orders-ro"}
    )
    assert checked["rows"] == -3 and checked["ro"] is False
    for bad in ({"rows": "3.5"}, {"rows": "1e3"}, {"ro": "yes"}):
        with pytest.raises(Invalid):
            check_fields(TYPED, {"db": "orders", "target": "orders-ro", **bad})


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"target": "orders-ro"}, "fields.db: required"),
        ({"db": "users", "target": "orders-ro"}, "not one of"),
        ({"db": "orders", "rows": "3 ", "target": "orders-ro"}, "fields.rows: must be an integer"),
        ({"db": "orders", "rows": True, "target": "orders-ro"}, "fields.rows: must be an integer"),
        ({"db": "orders", "ro": "yes", "target": "orders-ro"}, "fields.ro: must be true or false"),
        ({"db": "orders", "for": "soon", "target": "orders-ro"}, "fields.for"),
        ({"db": "orders", "tables": ["c"], "target": "orders-ro"}, "'c' is not one of"),
        ({"db": "orders", "buddy": "nobody", "target": "orders-ro"}, "not a plausible"),
        ({"db": "orders"}, "fields.target: required"),
        ({"db": "orders", "target": "orders-rw"}, "not a target of this flow"),
        ({"db": "orders", "target": "orders-ro", "x": math.nan}, "fields.x: nan"),
        ({"db": "orders", "target": "orders-ro", "x": math.inf}, "fields.x: inf"),
        ({"db": "orders", "target": "orders-ro", "x": "\udc00"}, "lone surrogate"),
        ({"db": "orders", "target": "orders-ro", "x": ["\ud800"]}, "lone surrogate"),
        ({"db": "orders", "target": "orders-ro", "\udc00": 1}, "lone surrogate"),
    ],
)
def test_bad_fields_are_refused(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(Invalid, match=message):
        check_fields(TYPED, fields)


def test_fields_too_large_for_an_event_are_refused() -> None:
    with pytest.raises(Invalid, match="more than 65536 bytes"):
        check_fields(FlowSettings(), {"notes": "x" * 70_000})


def test_a_stored_row_from_before_the_checks_still_lists() -> None:
    stored = '{"x": NaN, "y": "\\udc00", "z": [Infinity]}'
    safe = plain_object(stored)
    json.dumps(safe, allow_nan=False).encode("utf-8")
    assert safe["x"] is None and safe["z"] == [None]
    assert plain_object("not json") == {"unreadable": "not json"}


# --- the harness's answers ---------------------------------------------------------------


def test_result_size_is_bounded_and_depth_is_the_hooks_failure() -> None:
    with pytest.raises(MalformedAnswer, match="exceeds"):
        answers.parse_result(b'{"ok": true, "value": "' + b"x" * 2000 + b'"}', 1000)
    deep = b'{"ok": true, "value": ' + b"[" * 200_000 + b"]" * 200_000 + b"}"
    with pytest.raises(MalformedAnswer, match="not readable"):
        answers.parse_result(deep, len(deep))
    for raw in (b"[]", b'"ok"', b"{}", b'{"ok": "yes"}', b'{"ok": true, "value": NaN}'):
        with pytest.raises(MalformedAnswer):
            answers.parse_result(raw, 1000)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("on_approve", "approve"),
        ("on_approve", {"directive": "teleport"}),
        ("on_approve", {"message": "no directive"}),
        ("on_approve", {"directive": "ignore", "message": 3}),
        ("get_permissions", ["ADMIN"]),
        ("get_permissions", {"approve_deny": "ADMIN", "webapp_view": "ADMIN"}),
        (
            "get_permissions",
            {"approve_deny": "ROOT", "webapp_view": "ADMIN", "allow_self_approval": False},
        ),
        ("get_approvers", ["boss@example.com"]),
        ("get_approvers", {"users": [1, 2]}),
        ("get_approvers", {"destination": {"type": "carrier_pigeon"}}),
        ("get_request_notifications", {"destinations": []}),
        ("prefetch:db", [{"label": "no value"}]),
        ("strategy:escalate", {"granted": True}),
        ("describe", {"hooks": "on_approve"}),
    ],
)
def test_wrong_shapes_are_refused(name: str, value: Any) -> None:
    with pytest.raises(MalformedAnswer, match="wrong shape"):
        answers.shape_of(name)(value, name)


def test_right_shapes_pass() -> None:
    permission = {"webapp_view": "MEMBER", "approve_deny": {"users": ["a@b.io"]},
                  "allow_self_approval": False}  # fmt: skip
    assert answers.shape_of("get_permissions")(permission, "p") == permission
    fallback = {
        "destination": {
            "type": "fallback",
            "destinations": [
                {"type": "slack_channel", "name": "#ops"},
                {"type": "slack_user", "id": "U1"},
            ],
        }
    }
    assert answers.shape_of("get_approvers")(fallback, "a") == fallback
    assert answers.shape_of("prefetch:db")([{"value": 1}], "p") == [{"value": 1, "label": "1"}]


# --- who may approve -----------------------------------------------------------------------

ROLES = permissions.Roles(RoleSettings(admins=["boss@acme.io"], members=["*@acme.io"]))


def test_roles_admins_are_members() -> None:
    assert ROLES.role_of("boss@acme.io") == "admin"
    assert ROLES.role_of("dev@acme.io") == "member"
    assert ROLES.role_of("dev@evil.io") == "guest"


@pytest.mark.parametrize(
    ("level", "admitted", "refused"),
    [
        ("ADMIN", ["boss@acme.io"], ["dev@acme.io", "x@evil.io"]),
        ("MEMBER", ["boss@acme.io", "dev@acme.io"], ["x@evil.io", "acme.io@evil.io"]),
        ("ALL_USERS", ["x@evil.io"], []),
        ({"users": ["Lead@Acme.io", "not an e-mail"]}, ["lead@acme.io"], ["dev@acme.io"]),
    ],
)
def test_get_permissions_levels(level: Any, admitted: list[str], refused: list[str]) -> None:
    deciders = permissions.from_permissions(
        {"webapp_view": "ALL_USERS", "approve_deny": level, "allow_self_approval": False}, ROLES
    )
    for email in admitted:
        deciders.check(email, "requester@acme.io", "f")
    for email in refused:
        with pytest.raises(Refused, match="not an approver"):
            deciders.check(email, "requester@acme.io", "f")
    with pytest.raises(Refused, match="self-approval"):
        permissions.from_permissions(
            {"webapp_view": "ALL_USERS", "approve_deny": "ALL_USERS",
             "allow_self_approval": False}, ROLES,
        ).check("requester@acme.io", "requester@acme.io", "f")  # fmt: skip


def test_a_destination_lets_nobody_approve() -> None:
    destination = {"destination": {"type": "slack_channel", "name": "#ops"}}
    without = permissions.from_approvers(destination, allow_self=True, slack=False)
    with_slack = permissions.from_approvers(destination, allow_self=True, slack=True)
    for deciders in (without, with_slack):
        assert not deciders.admits("boss@acme.io")
        with pytest.raises(Refused, match="nobody may approve through it"):
            deciders.check("boss@acme.io", "dev@acme.io", "f")
    assert "no Slack integration" in str(without.nobody)


def test_a_resolved_destination_lets_its_people_approve() -> None:
    destination = {"destination": {"type": "slack_channel", "name": "#ops"}}
    people = permissions.Resolution(("Boss@ACME.io", "lead@acme.io"))
    deciders = permissions.from_approvers(destination, False, True, people, "dev@acme.io")
    deciders.check("boss@acme.io", "dev@acme.io", "f")
    with pytest.raises(Refused, match="not an approver"):
        deciders.check("dev@acme.io", "dev@acme.io", "f")  # left out: no allow_self
    with pytest.raises(Refused, match="not an approver"):
        deciders.check("mallory@acme.io", "dev@acme.io", "f")
    kept = permissions.Resolution(("boss@acme.io", "dev@acme.io"))  # allow_self kept them
    permissions.from_approvers(destination, False, True, kept, "dev@acme.io").check(
        "dev@acme.io", "dev@acme.io", "f"
    )
    failed = permissions.Resolution(None, "Slack said channel_not_found")
    for resolution in (failed, permissions.Resolution(())):
        refused = permissions.from_approvers(destination, True, True, resolution, "dev@acme.io")
        assert not refused.admits("boss@acme.io")
    assert "channel_not_found" in str(
        permissions.from_approvers(destination, True, True, failed).nobody
    )


def test_slack_counts_only_when_the_flow_names_a_slack_integration() -> None:
    configured = {
        "chat": IntegrationSettings(type="slack"),
        "okta": IntegrationSettings(type="okta"),
    }
    assert permissions.has_slack(["chat"], configured)
    assert not permissions.has_slack(["okta"], configured)
    assert not permissions.has_slack([], configured)
