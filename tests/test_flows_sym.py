"""Sym-style flows end to end: a real daemon, real hook processes, flows written as a team
leaving Sym writes them. Every reducer, typed fields, targets, prefetch, a custom strategy,
step outputs, and each way a flow fails closed."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import WorkRepo
from daemon_harness import RunningDaemon
from test_flows import cli, decide, grant_log, wait_for_state

SYM_HEADER = """\
from sym.sdk.annotations import hook, prefetch, reducer
from sym.sdk.field_option import FieldOption
from sym.sdk.integrations import slack
from sym.sdk.notifications import Notification
from sym.sdk.request_permission import PermissionLevel, RequestPermission
from sym.sdk.strategies import AccessStrategy
from sym.sdk.templates import ApprovalTemplate, get_step_output
"""


def permissions_impl(level: str, allow_self: bool = False) -> str:
    return (
        SYM_HEADER
        + f"""

@reducer
def get_permissions(event):
    return RequestPermission(
        webapp_view=PermissionLevel.ALL_USERS, approve_deny={level},
        allow_self_approval={allow_self},
    )
"""
    )


FLOWS: dict[str, tuple[str, str]] = {
    "perm-admin": (permissions_impl("PermissionLevel.ADMIN"), ""),
    "perm-member": (permissions_impl("PermissionLevel.MEMBER", allow_self=True), ""),
    "perm-all": (permissions_impl("PermissionLevel.ALL_USERS"), ""),
    "perm-list": (permissions_impl('["lead@acme.io"]'), ""),
    # get_permissions wins over get_approvers and flow.toml approvers.
    "perm-wins": (
        permissions_impl("PermissionLevel.ADMIN")
        + '\n\n@reducer\ndef get_approvers(event):\n    return ["dev2@acme.io"]\n',
        'approvers = ["dev2@acme.io"]\n',
    ),
    "approvers-users": (
        SYM_HEADER
        + """

@reducer
def get_approvers(event):
    return ["lead@acme.io", event.flow.vars["deputy"]]
""",
        '[vars]\ndeputy = "deputy@acme.io"\n',
    ),
    "approvers-slack": (
        SYM_HEADER + '\n\n@reducer\ndef get_approvers(event):\n    return slack.channel("#ops")\n',
        "",
    ),
    "open": (SYM_HEADER, ""),
    "no-revoke": (SYM_HEADER, "allow_revoke = false\n"),
    "short": (
        SYM_HEADER
        + """
from datetime import timedelta


@hook
def on_request(event):
    if event.payload.fields.get("shift") == "bad":
        return ApprovalTemplate.request(duration="soon")
    return ApprovalTemplate.request(duration=timedelta(minutes=10))
""",
        'max_duration = "1h"\n',
    ),
    "notify": (
        SYM_HEADER
        + """

@reducer
def get_request_notifications(event):
    return [Notification(destinations=[slack.channel("#access-requests")])]
""",
        "",
    ),
    "notify-fails": (
        SYM_HEADER
        + '\n\n@reducer\ndef get_request_notifications(event):\n    raise RuntimeError("x")\n',
        "",
    ),
    "typed": (
        SYM_HEADER
        + """

@hook
def on_request(event):
    fields = event.payload.fields
    target = fields["target"]
    if not isinstance(fields["rows"], int) or fields["readonly"] is not True:
        return ApprovalTemplate.ignore(message="fields arrived untyped")
    if target.label != "Orders (read)" or target.settings["group_id"] != "00g1":
        return ApprovalTemplate.ignore(message="target arrived as " + repr(target))
    if event.flow.environment.integrations["idp"].external_id != "acme.okta.com":
        return ApprovalTemplate.ignore(message="integration missing")
    return None
""",
        """\
integrations = ["idp"]

[[fields]]
name = "db"
type = "string"
required = true
allowed_values = ["orders", "billing"]

[[fields]]
name = "rows"
type = "int"
default = 10

[[fields]]
name = "readonly"
type = "bool"
default = true

[[targets]]
name = "orders-ro"
label = "Orders (read)"
type = "okta_group"
settings = { group_id = "00g1" }
""",
    ),
    "prefetch": (
        SYM_HEADER
        + """

@prefetch(field_name="db")
def get_databases(event):
    return [FieldOption(value="orders", label="Orders"), FieldOption(value="billing",
            label="Billing")]
""",
        '[[fields]]\nname = "db"\ntype = "string"\nrequired = true\n',
    ),
    "custom": (
        SYM_HEADER
        + """
import json, os


class GroupStrategy(AccessStrategy):
    def fetch_remote_identity(self, user):
        return user.email

    def _log(self, action, target_id, event):
        with open(os.path.join(os.environ["GRANTS_DIR"], "grants.log"), "a") as log:
            log.write(json.dumps({"action": action, "target": target_id,
                                  "user": event.payload.user.email}) + "\\n")

    def escalate(self, target_id, event):
        self._log("grant", target_id, event)
        return {"membership_id": "m-" + target_id}

    def deescalate(self, target_id, event):
        self._log("remove", target_id, event)
        self._log("saw " + json.dumps(get_step_output("escalate")), target_id, event)


@hook
def after_escalate(event):
    print("membership", get_step_output("escalate")["membership_id"])
""",
        'strategy = "custom"\n\n[[targets]]\nname = "admins"\n'
        'settings = { identifier = "grp-7" }\n',
    ),
    "custom-breaks": ("", ""),  # the custom flow's impl.py, for another target
    "step-output": (
        SYM_HEADER
        + """

@hook
def after_escalate(event):
    print("grant id", get_step_output("escalate")["grant_id"])
""",
        "",
    ),
    "deescalate-directive": (
        SYM_HEADER
        + """

@hook
def on_deescalate(event):
    return ApprovalTemplate.escalate()
""",
        "",
    ),
    "reducer-error": (
        SYM_HEADER
        + '\n\n@reducer\ndef get_permissions(event):\n    raise RuntimeError("directory down")\n',
        "",
    ),
    "reducer-shape": (
        SYM_HEADER + "\n\n@reducer\ndef get_permissions(event):\n    return ['boss@acme.io']\n",
        "",
    ),
    "bad-import": (SYM_HEADER + "\nimport no_such_module_anywhere\n", ""),
    "unknown-reducer": (
        SYM_HEADER + '\n\n@reducer\ndef get_aprovers(event):\n    return ["x@acme.io"]\n',
        "",
    ),
    "no-integration": (SYM_HEADER, 'integrations = ["pagerduty"]\n'),
    "echo": (
        SYM_HEADER
        + """
import os


@hook
def after_request(event):
    print(os.environ["HOOKRUNNER_FLOW_EVENT"])


@hook
def after_deny(event):
    print(os.environ["HOOKRUNNER_FLOW_EVENT"])
""",
        'integrations = ["idp"]\n',
    ),
    "hostile": (
        SYM_HEADER
        + """
import os


@hook
def on_approve(event):
    mode = event.payload.fields.get("mode")
    with open(os.environ["HOOKRUNNER_FLOW_RESULT"], "w") as result:
        if mode == "huge":
            result.write('{"ok": false, "error": "' + "x" * (60 << 20) + '"}')
        elif mode == "deep":
            result.write('{"ok": true, "value": ' + "[" * 200000 + "]" * 200000 + "}")
        elif mode == "list":
            result.write("[1, 2, 3]")
        else:
            result.write('{"ok": true, "value": {"message": "no directive"}}')
    os._exit(0)
""",
        "",
    ),
}
STEP_RUNBOOK = """\
import json, os
event = json.loads(os.environ["HOOKRUNNER_FLOW_EVENT"])
with open(os.path.join(os.environ["GRANTS_DIR"], "grants.log"), "a") as log:
    log.write(json.dumps({"action": "ACTION", "request": event["request"]["id"],
                          "seen": event["step_outputs"]}) + "\\n")
with open(os.environ["HOOKRUNNER_STEP_OUTPUT"], "w") as output:
    json.dump({"grant_id": "g-" + event["request"]["id"][:8]}, output)
"""
ROLES = {"admins": ["boss@acme.io"], "members": ["*@acme.io"]}
INTEGRATIONS = {
    "idp": {"type": "okta", "external_id": "acme.okta.com", "token_file": "/nonexistent/okta"}
}


FLOWS["custom-breaks"] = (FLOWS["custom"][0], FLOWS["custom"][1].replace("grp-7", "grp-9"))


def sym_files() -> dict[str, str]:
    files = {}
    for slug, (impl, toml) in FLOWS.items():
        files[f"flows/{slug}/impl.py"] = impl
        if toml:
            files[f"flows/{slug}/flow.toml"] = toml
        if not slug.startswith("custom"):
            files[f"flows/{slug}/escalate.runbook.py"] = STEP_RUNBOOK.replace("ACTION", "grant")
            files[f"flows/{slug}/deescalate.runbook.py"] = STEP_RUNBOOK.replace("ACTION", "remove")
    return files


@pytest.fixture(scope="module")
def sym_daemon(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[RunningDaemon, WorkRepo, Path]]:
    tmp_path = tmp_path_factory.mktemp("sym")
    grants = tmp_path / "grants"
    grants.mkdir()
    work_repo = WorkRepo(tmp_path / "git")
    work_repo.commit(sym_files())
    running = RunningDaemon(
        tmp_path,
        str(work_repo.bare),
        executor={"interpreter": sys.executable, "timeout": 10, "env": {"GRANTS_DIR": str(grants)}},
        retry={"backoff": [0.3, 0.3]},
        roles=ROLES,
        integrations=INTEGRATIONS,
    )
    running.start()
    yield running, work_repo, grants
    running.stop()


@pytest.fixture
def daemon(sym_daemon: tuple[RunningDaemon, WorkRepo, Path]) -> RunningDaemon:
    return sym_daemon[0]


@pytest.fixture
def client(daemon: RunningDaemon) -> Iterator[httpx.Client]:
    with daemon.client("flows-token") as flows:
        yield flows


def request(client: httpx.Client, slug: str, email: str = "dev@acme.io", **body: Any) -> Any:
    answer = client.post(f"/v1/flows/{slug}/requests", json={"user": {"email": email}, **body})
    assert answer.status_code == 201, answer.text
    return answer.json()


def approve(client: httpx.Client, request_id: str, email: str) -> httpx.Response:
    return decide(client, request_id, "approve", email)


def hook_runs(daemon: RunningDaemon) -> list[dict[str, Any]]:
    """The daemon's recorded hook runs, as a reader sees them."""
    with daemon.client("read-token") as reader:
        runs: list[dict[str, Any]] = reader.get("/v1/runs", params={"limit": 1000}).json()["runs"]
    return runs


# --- reducers --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("slug", "refused", "admitted"),
    [
        ("perm-admin", ["lead@acme.io", "outsider@evil.io"], "boss@acme.io"),
        ("perm-member", ["outsider@evil.io"], "lead@acme.io"),
        ("perm-all", ["dev@acme.io"], "outsider@evil.io"),  # anyone but the requester
        ("perm-list", ["boss@acme.io"], "lead@acme.io"),
        ("perm-wins", ["dev2@acme.io"], "boss@acme.io"),
        ("approvers-users", ["boss@acme.io"], "deputy@acme.io"),
    ],
)
def test_reducers_decide_who_may_approve(
    client: httpx.Client, slug: str, refused: list[str], admitted: str
) -> None:
    opened = request(client, slug)
    for email in refused:
        answer = approve(client, opened["id"], email)
        assert answer.status_code == 403, (email, answer.text)
    answer = approve(client, opened["id"], admitted)
    assert answer.status_code == 200, answer.text
    assert answer.json()["state"] == "escalated"


def test_member_level_with_allow_self_approval_lets_a_member_approve_their_own(
    client: httpx.Client,
) -> None:
    opened = request(client, "perm-member")
    assert approve(client, opened["id"], "dev@acme.io").json()["state"] == "escalated"
    outsider = request(client, "perm-member", "outsider@evil.io")
    assert approve(client, outsider["id"], "outsider@evil.io").status_code == 403


def test_a_slack_destination_without_slack_lets_nobody_approve(client: httpx.Client) -> None:
    opened = request(client, "approvers-slack")
    for email in ("boss@acme.io", "lead@acme.io"):
        answer = approve(client, opened["id"], email)
        assert answer.status_code == 403
        assert "no Slack integration" in answer.json()["detail"]
    assert client.get(f"/v1/requests/{opened['id']}").json()["state"] == "pending"


@pytest.mark.parametrize(
    ("slug", "reason"),
    [
        ("reducer-error", "RuntimeError: directory down"),
        ("reducer-shape", "get_permissions returned list"),
    ],
)
def test_a_failing_reducer_lets_nobody_approve(
    client: httpx.Client, slug: str, reason: str
) -> None:
    opened = request(client, slug)
    for email in ("boss@acme.io", "lead@acme.io", "outsider@evil.io"):
        answer = approve(client, opened["id"], email)
        assert answer.status_code == 403
        assert answer.json()["detail"].startswith("get_permissions failed, so nobody may approve")
        assert reason in answer.json()["detail"]


def test_notifications_are_recorded_in_the_history(client: httpx.Client) -> None:
    opened = request(client, "notify")
    entry = next(e for e in opened["history"] if e["event"] == "notify")
    assert "slack_channel #access-requests" in entry["message"]
    assert "not delivered" in entry["message"]
    failing = request(client, "notify-fails")
    assert failing["state"] == "pending"
    entry = next(e for e in failing["history"] if e["event"] == "notify")
    assert entry["message"] == "get_request_notifications failed: RuntimeError: x"


# --- fields, targets, prefetch -------------------------------------------------------------


def test_typed_fields_and_targets_reach_the_hook_typed(client: httpx.Client) -> None:
    opened = request(client, "typed", fields={"db": "orders", "target": "orders-ro"})
    assert opened["state"] == "pending"
    assert opened["fields"] == {"db": "orders", "target": "orders-ro", "rows": 10,
                                "readonly": True}  # fmt: skip


@pytest.mark.parametrize(
    ("fields", "detail"),
    [
        ({"target": "orders-ro"}, "fields.db: required"),
        ({"db": "users", "target": "orders-ro"}, "not one of"),
        ({"db": "orders", "rows": "many", "target": "orders-ro"}, "must be an integer"),
        ({"db": "orders", "target": "orders-rw"}, "not a target of this flow"),
        ({"db": "orders"}, "fields.target: required"),
    ],
)
def test_bad_fields_are_422(client: httpx.Client, fields: dict[str, Any], detail: str) -> None:
    answer = client.post(
        "/v1/flows/typed/requests", json={"user": {"email": "dev@acme.io"}, "fields": fields}
    )
    assert answer.status_code == 422, answer.text
    assert detail in answer.json()["detail"]


def test_prefetch_options_and_a_value_outside_them(client: httpx.Client) -> None:
    options = client.get("/v1/flows/prefetch/fields/db/options", params={"user": "dev@acme.io"})
    assert options.status_code == 200, options.text
    assert options.json() == [{"value": "orders", "label": "Orders"},
                              {"value": "billing", "label": "Billing"}]  # fmt: skip
    assert request(client, "prefetch", fields={"db": "billing"})["state"] == "pending"
    outside = client.post(
        "/v1/flows/prefetch/requests",
        json={"user": {"email": "dev@acme.io"}, "fields": {"db": "secrets"}},
    )
    assert outside.status_code == 422 and "not one of its options" in outside.json()["detail"]
    nope = client.get("/v1/flows/prefetch/fields/nope/options", params={"user": "dev@acme.io"})
    assert nope.status_code == 404
    assert client.get("/v1/flows/prefetch/fields/db/options").status_code == 422


# --- strategies and step outputs -------------------------------------------------------------


def test_custom_strategy_grants_and_removes_with_its_step_output(
    sym_daemon: tuple[RunningDaemon, WorkRepo, Path], client: httpx.Client
) -> None:
    daemon, _repo, grants = sym_daemon
    opened = request(client, "custom", fields={"target": "admins"})
    escalated = approve(client, opened["id"], "boss@acme.io")
    assert escalated.json()["state"] == "escalated", escalated.text
    revoked = decide(client, opened["id"], "revoke", "dev@acme.io")
    assert revoked.json()["state"] == "revoked", revoked.text
    mine = [g for g in grant_log(grants) if g.get("target") == "grp-7"]
    assert [g["action"] for g in mine] == [
        "grant", "remove", 'saw {"membership_id": "m-grp-7"}',
    ]  # fmt: skip
    runs = hook_runs(daemon)
    after = next(r for r in runs if r["hook"] == "custom/after_escalate")
    assert "membership m-grp-7" in after["stdout"]
    assert any(r["hook"] == "custom/strategy:escalate" for r in runs)


def test_runbook_step_output_reaches_later_hooks_and_the_deescalation(
    sym_daemon: tuple[RunningDaemon, WorkRepo, Path], client: httpx.Client
) -> None:
    daemon, _repo, grants = sym_daemon
    opened = request(client, "step-output", duration=1)
    approve(client, opened["id"], "boss@acme.io")
    wait_for_state(client, opened["id"], "deescalated")
    grant_id = "g-" + opened["id"][:8]
    mine = [g for g in grant_log(grants) if g.get("request") == opened["id"]]
    assert mine == [
        {"action": "grant", "request": opened["id"], "seen": {}},
        {"action": "remove", "request": opened["id"], "seen": {"escalate": {"grant_id": grant_id}}},
    ]
    runs = hook_runs(daemon)
    assert any(
        r["hook"] == "step-output/after_escalate" and f"grant id {grant_id}" in r["stdout"]
        for r in runs
    )


def test_on_deescalate_returning_a_directive_cannot_keep_access(
    sym_daemon: tuple[RunningDaemon, WorkRepo, Path], client: httpx.Client
) -> None:
    _daemon, _repo, grants = sym_daemon
    opened = request(client, "deescalate-directive", duration=1)
    approve(client, opened["id"], "boss@acme.io")
    done = wait_for_state(client, opened["id"], "deescalated")
    assert any("returned escalate; ignored" in (e["message"] or "") for e in done["history"])
    actions = [g["action"] for g in grant_log(grants) if g.get("request") == opened["id"]]
    assert actions == ["grant", "remove"]
    revoked_early = request(client, "deescalate-directive")
    approve(client, revoked_early["id"], "boss@acme.io")
    assert decide(client, revoked_early["id"], "revoke", "dev@acme.io").json()["state"] == "revoked"


def test_on_request_may_set_the_duration(client: httpx.Client) -> None:
    assert request(client, "short", duration="2h")["duration_s"] == 600
    bad = client.post(
        "/v1/flows/short/requests",
        json={"user": {"email": "dev@acme.io"}, "fields": {"shift": "bad"}},
    )
    assert bad.status_code == 403 and "invalid duration" in bad.json()["detail"]


def test_allow_revoke_false_refuses_people_but_not_the_timer(client: httpx.Client) -> None:
    opened = request(client, "no-revoke", duration=1)
    approve(client, opened["id"], "boss@acme.io")
    for who in ("dev@acme.io", "boss@acme.io"):
        refused = decide(client, opened["id"], "revoke", who)
        assert refused.status_code == 403 and "allow_revoke" in refused.json()["detail"]
    assert wait_for_state(client, opened["id"], "deescalated")["error"] is None


# --- fail closed -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("slug", "reason"),
    [
        ("bad-import", "No module named 'no_such_module_anywhere'"),
        ("unknown-reducer", "get_aprovers"),
        ("no-integration", "integration 'pagerduty' is not configured"),
    ],
)
def test_a_broken_flow_is_not_served(daemon: RunningDaemon, slug: str, reason: str) -> None:
    with daemon.client("flows-token") as client, daemon.client("read-token") as reader:
        answers = [
            client.post(f"/v1/flows/{slug}/prompt", json={"user": {"email": "dev@acme.io"}}),
            client.post(f"/v1/flows/{slug}/requests", json={"user": {"email": "dev@acme.io"}}),
        ]
        listed = {f["slug"]: f for f in reader.get("/v1/flows").json()["flows"]}
        shown = reader.get(f"/v1/flows/{slug}").json()
        status = reader.get("/v1/status").json()
    for answer in answers:
        assert answer.status_code == 503, answer.text
        assert answer.json()["type"].endswith("flow-unavailable")
        assert reason in answer.json()["detail"]
    assert listed[slug]["served"] is False and reason in listed[slug]["error"]
    assert shown["served"] is False
    assert reason in status["flows"]["broken"][slug]
    assert listed["typed"]["served"] is True
    assert listed["typed"]["targets"][0]["name"] == "orders-ro"
    assert listed["typed"]["integrations"] == ["idp"]


def test_flow_flows_cli_names_the_broken_flows(daemon: RunningDaemon) -> None:
    listed = cli(daemon, "flows", "--human")
    assert listed.returncode == 0, listed.stderr
    lines = listed.stdout.splitlines()
    assert "typed served (strategy runbook)" in lines
    assert "custom served (strategy custom)" in lines
    assert any(line.startswith("bad-import BROKEN: ") for line in lines)


def test_deescalation_still_runs_when_the_flow_breaks_after_escalation(
    sym_daemon: tuple[RunningDaemon, WorkRepo, Path], client: httpx.Client
) -> None:
    daemon, repo, grants = sym_daemon
    opened = request(client, "open", duration=600)
    approve(client, opened["id"], "boss@acme.io")
    unrevoked = request(client, "open")
    repo.commit({"flows/open/impl.py": "import no_such_module_anywhere\n"})
    try:
        with daemon.client("admin-token") as admin:
            assert admin.post("/v1/sync").json()["ok"] is True
        broken = approve(client, unrevoked["id"], "boss@acme.io")
        assert broken.status_code == 503
        revoked = decide(client, opened["id"], "revoke", "dev@acme.io")
        assert revoked.status_code == 200, revoked.text
        assert revoked.json()["state"] == "revoked"
    finally:
        repo.commit({"flows/open/impl.py": SYM_HEADER})
        with daemon.client("admin-token") as admin:
            admin.post("/v1/sync")
    actions = [g["action"] for g in grant_log(grants) if g.get("request") == opened["id"]]
    assert actions == ["grant", "remove"]


def test_a_custom_strategy_that_breaks_keeps_retrying_the_removal(
    sym_daemon: tuple[RunningDaemon, WorkRepo, Path], client: httpx.Client
) -> None:
    daemon, repo, grants = sym_daemon
    opened = request(client, "custom-breaks", fields={"target": "admins"})
    assert approve(client, opened["id"], "boss@acme.io").json()["state"] == "escalated"
    repo.commit({"flows/custom-breaks/impl.py": "import no_such_module_anywhere\n"})
    try:
        with daemon.client("admin-token") as admin:
            assert admin.post("/v1/sync").json()["ok"] is True
        revoke = decide(client, opened["id"], "revoke", "dev@acme.io")
        assert revoke.status_code == 202, revoke.text  # not removed, so not "revoked"
        assert revoke.json()["state"] == "escalated"
        assert "access still granted" in revoke.json()["error"]
    finally:
        repo.commit({"flows/custom-breaks/impl.py": FLOWS["custom-breaks"][0]})
        with daemon.client("admin-token") as admin:
            admin.post("/v1/sync")
    wait_for_state(client, opened["id"], "revoked")
    mine = [g["action"] for g in grant_log(grants) if g.get("target") == "grp-9"]
    assert mine[:2] == ["grant", "remove"]


@pytest.mark.parametrize(
    ("mode", "detail"),
    [
        ("huge", "exceeds 1048576 bytes"),
        ("deep", "not readable JSON"),
        ("list", "not an object with a boolean 'ok'"),
        ("nodirective", "wrong shape"),
    ],
)
def test_a_malformed_result_is_the_hooks_failure(
    client: httpx.Client, mode: str, detail: str
) -> None:
    opened = request(client, "hostile", fields={"mode": mode})
    answer = approve(client, opened["id"], "boss@acme.io")
    assert answer.status_code == 403, answer.text[:300]
    assert detail in answer.json()["detail"]
    assert len(answer.content) < 10_000
    assert client.get(f"/v1/requests/{opened['id']}").json()["state"] == "pending"


# --- intake and identities ---------------------------------------------------------------------


def test_a_reason_of_any_json_type_is_recorded_as_text(client: httpx.Client) -> None:
    opened = request(client, "open", fields={"reason": ["INC-1", 2]})
    assert opened["history"][0]["message"] == '["INC-1", 2]'
    assert client.get("/v1/requests").status_code == 200


def test_a_requester_may_withdraw_their_own_request(client: httpx.Client) -> None:
    opened = request(client, "perm-admin")
    withdrawn = decide(client, opened["id"], "deny", "DEV@acme.io", "not needed")
    assert withdrawn.status_code == 200, withdrawn.text
    assert withdrawn.json()["state"] == "denied"


def test_look_alikes_of_the_requester_are_the_requester(client: httpx.Client) -> None:
    opened = request(client, "open", "kate@acme.io")
    for look_alike in ("\u212aate@acme.io", "\uff4bate@acme.io", "KATE@ACME.IO"):
        answer = approve(client, opened["id"], look_alike)
        assert answer.status_code == 403, look_alike
        assert "self-approval" in answer.json()["detail"]
    for implausible in (" kate@acme.io", "k\u0430te@acme.io", "kate"):
        answer = approve(client, opened["id"], implausible)
        assert answer.status_code == 422, implausible


@pytest.mark.parametrize(
    "raw",
    [
        b'{"user": {"email": "dev@acme.io"}, "fields": {"x": NaN}}',
        b'{"user": {"email": "dev@acme.io"}, "fields": {"x": Infinity}}',
        b'{"user": {"email": "dev@acme.io"}, "fields": {"x": "\\udc00"}}',
        b'{"user": {"email": "dev@acme.io"}, "fields": {"\\ud800": 1}}',
    ],
)
def test_fields_that_json_cannot_carry_are_422_and_lists_still_work(
    daemon: RunningDaemon, client: httpx.Client, raw: bytes, tmp_path: Path
) -> None:
    answer = client.post(
        "/v1/flows/open/requests", content=raw, headers={"content-type": "application/json"}
    )
    assert answer.status_code == 422, answer.text
    assert client.get("/v1/requests").status_code == 200


def test_replaying_a_flow_run_is_a_clear_conflict(
    daemon: RunningDaemon, client: httpx.Client
) -> None:
    opened = request(client, "step-output")
    approve(client, opened["id"], "boss@acme.io")
    with daemon.client("admin-token") as admin:
        runs = admin.get("/v1/runs", params={"limit": 1000}).json()["runs"]
        flow_run = next(r for r in runs if r["hook"].startswith("step-output/"))
        replayed = admin.post(f"/v1/runs/{flow_run['run_id']}/replay")
    assert replayed.status_code == 409, replayed.text
    assert "act on the request instead" in replayed.json()["detail"]


def test_the_event_document_matches_the_contract(
    daemon: RunningDaemon, client: httpx.Client
) -> None:
    opened = request(client, "echo", "Dev2@Acme.io", fields={"reason": "INC-1"})
    runs = hook_runs(daemon)
    printed = next(r for r in runs if r["hook"] == "echo/after_request")["stdout"]
    event = json.loads(printed)
    assert event["name"] == "request"
    assert event["user"] == {"email": "dev2@acme.io", "role": "member"}
    assert event["channel"] == {"type": "api", "identifier": None}
    assert event["flow"]["srn"] == "hookrunner:flow:echo:latest"
    assert event["flow"]["environment"] == {
        "name": "hookrunner",
        "integrations": {"idp": {"type": "okta", "external_id": "acme.okta.com", "settings": {}}},
    }
    assert "/nonexistent/okta" not in printed  # the token file stays in the daemon
    assert event["flow"]["strategy"] == {"type": "runbook", "targets": []}
    assert event["payload"]["srn"] == f"hookrunner:access_request:echo:latest:{opened['id']}"
    assert event["payload"]["user"] == {"email": "dev2@acme.io", "role": "member"}
    assert event["payload"]["fields"] == {"reason": "INC-1"}
    assert event["request"]["id"] == opened["id"]
    assert event["actors"] == {"request": {"email": "dev2@acme.io"}}
    assert event["step_outputs"] == {}


def test_a_refused_person_is_never_an_actor(daemon: RunningDaemon, client: httpx.Client) -> None:
    opened = request(client, "echo", "dev2@acme.io")
    assert approve(client, opened["id"], "dev2@acme.io").status_code == 403  # self-approval
    assert decide(client, opened["id"], "deny", "boss@acme.io").status_code == 200
    runs = hook_runs(daemon)
    printed = next(r for r in runs if r["hook"] == "echo/after_deny")["stdout"]
    actors = json.loads(printed)["actors"]
    assert actors == {"request": {"email": "dev2@acme.io"}, "deny": {"email": "boss@acme.io"}}


def test_integrations_never_expose_secrets(daemon: RunningDaemon, client: httpx.Client) -> None:
    request(client, "typed", fields={"db": "orders", "target": "orders-ro"})
    with daemon.client("read-token") as reader:
        shown = reader.get("/v1/flows/typed").json()
    assert shown["integrations"] == ["idp"]
    assert "/nonexistent/okta" not in json.dumps(shown)
