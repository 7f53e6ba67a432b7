"""Slack approvals end to end: a real daemon, a local Slack speaking the Web API's wire
format, signed interaction payloads and slash commands as Slack sends them."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from conftest import WorkRepo
from daemon_harness import RunningDaemon
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hookrunner_dev.fakes.base import FakeResponse
from hookrunner_dev.fakes.slack import (
    SIGNING_SECRET,
    FakeSlack,
    button_click,
    signed_form,
    slack_signature,
    trigger_id,
)

TEAM = "T0123ABCD"
BOSS, DEV, EVE = "U0BOSS", "U0DEV", "U0EVE"
CHANNEL = "C0ACCESS"

IMPL = """\
from sym.sdk.annotations import hook, prefetch, reducer
from sym.sdk.field_option import FieldOption
from sym.sdk.integrations import slack
from sym.sdk.notifications import Notification


@reducer
def get_request_notifications(event):
    return [Notification(destinations=[slack.channel("#access-requests")])]


@hook
def after_approve(event):
    print("approved through", event.channel.type, "by", event.user.email)


@prefetch(field_name="db")
def databases(event):
    return [FieldOption(value="orders", label="Orders"),
            FieldOption(value="billing", label="Billing")]
"""
TOML = """\
approvers = ["boss@acme.io"]
integrations = ["slack"]
default_duration = "1h"

[[fields]]
name = "db"
type = "string"
label = "Database"
required = true

[[fields]]
name = "rows"
type = "int"
"""


# An on_approve that holds the approval until the test opens the gate.
GATED_HOOK = """

@hook
def on_approve(event):
    import os, time
    deadline = time.monotonic() + 25
    while not os.path.exists(os.environ["GATE"]) and time.monotonic() < deadline:
        time.sleep(0.02)
"""


@pytest.fixture(scope="module")
def slack() -> Iterator[FakeSlack]:
    fake = FakeSlack().start()
    fake.add_user(BOSS, "boss@acme.io", "boss")
    fake.add_user(DEV, "dev@acme.io", "dev")
    fake.add_user(EVE, "eve@acme.io", "eve")
    fake.add_channel(CHANNEL, "access-requests", [BOSS, EVE])
    yield fake
    fake.stop()


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory, slack: FakeSlack) -> Iterator[RunningDaemon]:
    tmp_path = tmp_path_factory.mktemp("slack")
    work_repo = WorkRepo(tmp_path / "git")
    work_repo.commit(
        {
            "flows/db-access/impl.py": IMPL,
            "flows/db-access/flow.toml": TOML,
            "flows/nowhere/impl.py": IMPL.replace("#access-requests", "#no-such-channel"),
            "flows/nowhere/flow.toml": TOML,
            "flows/gated/impl.py": IMPL + GATED_HOOK,
            "flows/gated/flow.toml": TOML,
        }
    )
    (tmp_path / "bot-token").write_text(slack.token + "\n")
    (tmp_path / "signing-secret").write_text(SIGNING_SECRET + "\n")
    running = RunningDaemon(
        tmp_path,
        str(work_repo.bare),
        executor={
            "interpreter": sys.executable,
            "timeout": 30,
            "env": {"GATE": str(tmp_path / "gate")},  # see GATED_HOOK
        },
        retry={"backoff": [0.2, 0.4], "max_attempts": 3},
        **{
            "integrations.slack": {
                "type": "slack",
                "external_id": TEAM,
                "api_url": slack.url,
                "token_file": str(tmp_path / "bot-token"),
                "signing_secret_file": str(tmp_path / "signing-secret"),
            }
        },
    )
    running.start()
    yield running
    running.stop()


@pytest.fixture
def client(daemon: RunningDaemon) -> Iterator[httpx.Client]:
    with daemon.client("flows-token") as flows:
        yield flows


# -- what Slack sends ---------------------------------------------------------------------


def post_signed(
    daemon: RunningDaemon, form: dict[str, str]
) -> tuple[httpx.Response, bytes, dict[str, str]]:
    """POST ``form`` as Slack does; returns the answer, and the body and headers sent."""
    body, headers = signed_form(form)
    with daemon.client(None) as anonymous:
        answer = anonymous.post("/v1/webhooks/slack", content=body, headers=headers)
    return answer, body, headers


def interaction(payload: dict[str, Any]) -> dict[str, str]:
    return {"payload": json.dumps(payload)}


def button(
    slack: FakeSlack, action: str, request_id: str, user: str, channel: str = CHANNEL
) -> dict[str, str]:
    return button_click(slack, action, request_id, user, channel, TEAM)


# -- waiting on the fake, by condition ----------------------------------------------------


def eventually(check: Callable[[], Any], timeout: float = 30, what: str = "") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.05)
    raise TimeoutError(f"never happened: {what}")


def announcement(
    slack: FakeSlack, request_id: str, channel: str = CHANNEL
) -> dict[str, Any] | None:
    """The message about ``request_id`` in ``channel`` (the requester's DM: ``D0DEV``)."""
    for message in slack.messages:
        if message["channel"] == channel and request_id in json.dumps(message.get("blocks")):
            return message
    return None


def state_of(client: httpx.Client, request_id: str) -> str:
    return str(client.get(f"/v1/requests/{request_id}").json()["state"])


def buttons(message: dict[str, Any]) -> list[str]:
    return [
        element["action_id"]
        for block in message.get("blocks") or []
        if block["type"] == "actions"
        for element in block["elements"]
    ]


def status(message: dict[str, Any]) -> str:
    return next(b for b in message["blocks"] if b["type"] == "context")["elements"][0]["text"]


def open_request(client: httpx.Client, email: str = "dev@acme.io", **fields: Any) -> Any:
    body = {"user": {"email": email}, "fields": {"db": "orders", **fields}}
    answer = client.post("/v1/flows/db-access/requests", json=body)
    assert answer.status_code == 201, answer.text
    return answer.json()


def announced(slack: FakeSlack, client: httpx.Client) -> tuple[dict[str, Any], dict[str, Any]]:
    request = open_request(client)
    message = eventually(lambda: announcement(slack, request["id"]), what="the announcement")
    return request, message


# -- the tests ------------------------------------------------------------------------------


def test_a_request_is_announced_with_its_fields_and_buttons(
    slack: FakeSlack, client: httpx.Client
) -> None:
    request, message = announced(slack, client)
    assert buttons(message) == ["hookrunner_approve", "hookrunner_deny"]
    actions = [b for b in message["blocks"] if b["type"] == "actions"]
    assert [e["value"] for e in actions[0]["elements"]] == [request["id"], request["id"]]
    shown = json.dumps(message["blocks"])
    assert "dev@acme.io" in shown and "*db*\\norders" in shown
    assert "Waiting for approval" in status(message)
    notify = next(e for e in request["history"] if e["event"] == "notify")
    assert "delivering through Slack" in notify["message"]
    # the requester hears nothing until there is an outcome
    assert announcement(slack, request["id"], "D0DEV") is None


def test_a_signed_click_by_an_approver_approves_and_the_message_updates_in_place(
    daemon: RunningDaemon, slack: FakeSlack, client: httpx.Client
) -> None:
    request, message = announced(slack, client)
    click = button(slack, "hookrunner_approve", request["id"], BOSS)
    answer, _body, _headers = post_signed(daemon, click)
    assert answer.status_code == 200 and answer.content == b""
    done = eventually(
        lambda: state_of(client, request["id"]) == "escalated",
        what="the approval",
    )
    assert done
    current = client.get(f"/v1/requests/{request['id']}").json()
    approve = next(e for e in current["history"] if e["event"] == "approve")
    assert approve["actor"] == {"email": "boss@acme.io"}
    runs = client.get("/v1/runs", params={"limit": 1000}).json()["runs"]
    hooks_saw = [r["stdout"] for r in runs if r["hook"] == "db-access/after_approve"]
    assert "approved through slack by boss@acme.io\n" in hooks_saw  # event.channel.type
    updated = eventually(
        lambda: "access until" in status(announcement(slack, request["id"]) or message),
        what="the message update",
    )
    assert updated
    after = announcement(slack, request["id"])
    assert after is not None and after["ts"] == message["ts"]  # updated, not posted again
    assert buttons(after) == []
    assert "Approved by boss@acme.io" in status(after)
    # the requester's direct message: the outcome, and Revoke while access is granted
    direct = eventually(
        lambda: announcement(slack, request["id"], "D0DEV"), what="the requester's message"
    )
    assert buttons(direct) == ["hookrunner_revoke"]
    # nothing went wrong, so the clicker was told nothing
    response_name = json.loads(click["payload"])["response_url"].rsplit("/", 1)[1]
    assert [r for r in slack.responses if r["name"] == response_name] == []


def test_a_click_is_answered_before_its_hooks_have_run(
    daemon: RunningDaemon, slack: FakeSlack, client: httpx.Client
) -> None:
    body = {"user": {"email": "dev@acme.io"}, "fields": {"db": "orders"}}
    request = client.post("/v1/flows/gated/requests", json=body).json()
    eventually(lambda: announcement(slack, request["id"]), what="the announcement")
    gate = daemon.dir.parent / "gate"  # the daemon's GATE
    answer = post_signed(daemon, button(slack, "hookrunner_approve", request["id"], BOSS))[0]
    assert answer.status_code == 200
    assert state_of(client, request["id"]) == "pending"  # on_approve is still held
    gate.touch()
    eventually(lambda: state_of(client, request["id"]) == "escalated", what="the approval")


def test_the_requester_revokes_from_the_direct_message(
    daemon: RunningDaemon, slack: FakeSlack, client: httpx.Client
) -> None:
    request, _message = announced(slack, client)
    post_signed(daemon, button(slack, "hookrunner_approve", request["id"], BOSS))
    eventually(
        lambda: state_of(client, request["id"]) == "escalated",
        what="the approval",
    )
    revoke = button(slack, "hookrunner_revoke", request["id"], DEV, channel="D0DEV")
    assert post_signed(daemon, revoke)[0].status_code == 200
    eventually(
        lambda: state_of(client, request["id"]) == "revoked",
        what="the revocation",
    )
    eventually(
        lambda: "Revoked by dev@acme.io" in status(announcement(slack, request["id"]) or {}),
        what="the announcement showing the revocation",
    )


def _unchanged(slack: FakeSlack, client: httpx.Client, request: dict[str, Any], before: int):
    current = client.get(f"/v1/requests/{request['id']}").json()
    assert current["state"] == "pending"
    decided = [e for e in current["history"] if e["event"] == "approve"]
    assert all((e["message"] or "").startswith("refused:") for e in decided)
    message = announcement(slack, request["id"])
    assert message is not None and "Waiting for approval" in status(message)
    assert len([u for u in slack.updates if request["id"] in json.dumps(u)]) == before


def test_a_click_by_someone_who_may_not_approve_is_refused_to_them_only(
    daemon: RunningDaemon, slack: FakeSlack, client: httpx.Client
) -> None:
    request, _message = announced(slack, client)
    form = button(slack, "hookrunner_approve", request["id"], EVE)
    answer, _body, _headers = post_signed(daemon, form)
    assert answer.status_code == 200
    response_name = json.loads(form["payload"])["response_url"].rsplit("/", 1)[1]
    told = eventually(
        lambda: [r for r in slack.responses if r["name"] == response_name], what="the refusal"
    )
    assert told[0]["response_type"] == "ephemeral"
    assert "eve@acme.io is not an approver of flow db-access" in told[0]["text"]
    history = client.get(f"/v1/requests/{request['id']}").json()["history"]
    assert any(e["message"].startswith("refused:") for e in history if e["message"])
    _unchanged(slack, client, request, 0)


@pytest.mark.parametrize(
    "tamper",
    ["bad-signature", "stale", "future", "replay", "unsigned", "other-secret"],
)
def test_a_click_that_is_not_signed_by_slack_now_is_refused_and_does_nothing(
    daemon: RunningDaemon, slack: FakeSlack, client: httpx.Client, tamper: str
) -> None:
    request, _message = announced(slack, client)
    form = button(slack, "hookrunner_approve", request["id"], BOSS)
    body = urlencode(form).encode()
    now = int(time.time())
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Slack-Request-Timestamp": str(now),
        "X-Slack-Signature": slack_signature(body, now),
    }
    if tamper == "bad-signature":
        headers["X-Slack-Signature"] = slack_signature(body + b"x", now)
    elif tamper == "stale":
        headers["X-Slack-Request-Timestamp"] = str(now - 301)
        headers["X-Slack-Signature"] = slack_signature(body, now - 301)
    elif tamper == "future":
        headers["X-Slack-Request-Timestamp"] = str(now + 301)
        headers["X-Slack-Signature"] = slack_signature(body, now + 301)
    elif tamper == "unsigned":
        del headers["X-Slack-Signature"]
    elif tamper == "other-secret":
        headers["X-Slack-Signature"] = slack_signature(body, now, "not-the-secret")
    with daemon.client(None) as anonymous:
        if tamper == "replay":
            # A legitimate click by somebody who may not approve, replayed as is.
            first = urlencode(button(slack, "hookrunner_approve", request["id"], EVE)).encode()
            replay = {**headers, "X-Slack-Signature": slack_signature(first, now)}
            assert anonymous.post("/v1/webhooks/slack", content=first, headers=replay).is_success
            answer = anonymous.post("/v1/webhooks/slack", content=first, headers=replay)
        else:
            answer = anonymous.post("/v1/webhooks/slack", content=body, headers=headers)
    assert answer.status_code == 401
    assert answer.headers["content-type"] == "application/problem+json"
    time.sleep(0.5)  # give a wrongly accepted click the time to act: it must not
    _unchanged(slack, client, request, 0)


def test_the_slash_command_opens_a_modal_whose_submission_opens_the_request(
    daemon: RunningDaemon, slack: FakeSlack, client: httpx.Client
) -> None:
    trigger = trigger_id()
    command = {
        "token": "legacy",
        "team_id": TEAM,
        "team_domain": "acme",
        "channel_id": CHANNEL,
        "channel_name": "access-requests",
        "user_id": DEV,
        "user_name": "dev",
        "command": "/access",
        "text": "db-access",
        "api_app_id": "A0APP",
        "response_url": slack.response_url("cmd"),
        "trigger_id": trigger,
    }
    answer, _body, _headers = post_signed(daemon, command)
    assert answer.status_code == 200
    opened = eventually(
        lambda: [v for v in slack.views if v["trigger_id"] == trigger], what="views.open"
    )
    view = opened[0]["view"]
    assert view["private_metadata"] == "db-access"
    blocks = {b["block_id"]: b for b in view["blocks"]}
    options = [o["text"]["text"] for o in blocks["db"]["element"]["options"]]
    assert options == ["Orders", "Billing"]  # from the @prefetch reducer
    assert blocks["db"]["optional"] is False and blocks["rows"]["optional"] is True

    def submit(values: dict[str, Any]) -> httpx.Response:
        state = {name: {"value": action} for name, action in values.items()}
        payload = {
            "type": "view_submission",
            "team": {"id": TEAM},
            "user": {"id": DEV, "team_id": TEAM},
            "trigger_id": trigger_id(),
            "view": {**view, "id": "V0001", "state": {"values": state}},
        }
        return post_signed(daemon, interaction(payload))[0]

    bad_rows = submit({"db": {"type": "static_select", "selected_option": {"value": '"orders"'}},
                       "rows": {"type": "number_input", "value": "many"}})  # fmt: skip
    assert bad_rows.json() == {
        "response_action": "errors",
        "errors": {"rows": "must be a whole number"},
    }
    sent_before = len(slack.messages)
    outside = submit({"db": {"type": "static_select", "selected_option": {"value": '"secrets"'}}})
    if outside.content:  # the engine answered within Slack's wait: on the modal's field
        assert outside.json()["response_action"] == "errors"
        refusal = outside.json()["errors"]["db"]
    else:  # a loaded machine: the modal closed, and the refusal comes as a direct message
        told = eventually(
            lambda: [m for m in slack.messages[sent_before:] if m["channel"] == "D0DEV"],
            what="the refusal by direct message",
        )
        refusal = told[0]["text"]
    assert "'secrets' is not one of its options" in refusal
    before = {r["id"] for r in client.get("/v1/requests").json()["requests"]}
    good = submit(
        {
            "db": {"type": "static_select", "selected_option": {"value": '"billing"'}},
            "rows": {"type": "number_input", "value": "25"},
            "reason": {"type": "plain_text_input", "value": "INC-42"},
        }
    )
    assert good.status_code == 200 and good.content == b""  # the modal closes

    def opened_since() -> list[dict[str, Any]]:
        requests = client.get("/v1/requests").json()["requests"]
        return [r for r in requests if r["id"] not in before]

    new = eventually(opened_since, what="the request the modal opened")
    assert len(new) == 1
    assert new[0]["requester"] == {"email": "dev@acme.io"}
    assert new[0]["fields"] == {"db": "billing", "rows": 25, "reason": "INC-42"}
    eventually(lambda: announcement(slack, new[0]["id"]), what="its announcement")


def test_the_slash_command_without_a_flow_lists_the_served_flows(
    daemon: RunningDaemon, slack: FakeSlack
) -> None:
    trigger = trigger_id()
    command = {"team_id": TEAM, "user_id": DEV, "command": "/access", "text": "",
               "channel_id": CHANNEL, "trigger_id": trigger}  # fmt: skip
    assert post_signed(daemon, {"ssl_check": "1", "token": "legacy"})[0].status_code == 200
    assert post_signed(daemon, command)[0].status_code == 200
    opened = eventually(
        lambda: [v for v in slack.views if v["trigger_id"] == trigger], what="views.open"
    )
    picker = opened[0]["view"]
    select = picker["blocks"][0]["element"]
    assert [o["text"]["text"] for o in select["options"]] == ["db-access", "gated", "nowhere"]
    chosen = {
        "flow": {"value": {"type": "static_select", "selected_option": {"value": '"db-access"'}}}
    }
    payload = {
        "type": "view_submission",
        "team": {"id": TEAM},
        "user": {"id": DEV},
        "trigger_id": trigger_id(),
        "view": {**picker, "id": "V0002", "state": {"values": chosen}},
    }
    answer = post_signed(daemon, interaction(payload))[0].json()
    assert answer["response_action"] == "update"
    assert answer["view"]["private_metadata"] == "db-access"
    assert [b["block_id"] for b in answer["view"]["blocks"]] == ["db", "rows", "reason"]


def test_slack_down_never_blocks_a_decision_and_the_messages_arrive_when_it_is_back(
    slack: FakeSlack, client: httpx.Client, daemon: RunningDaemon
) -> None:
    slack.outage = FakeResponse(500, {"ok": False, "error": "internal_error"})
    tried_before = len(slack.requests)
    try:
        request = open_request(client)
        approved = client.post(
            f"/v1/requests/{request['id']}/approve", json={"user": {"email": "boss@acme.io"}}
        )
        assert approved.status_code == 200, approved.text
        assert approved.json()["state"] == "escalated"
        eventually(lambda: len(slack.requests) > tried_before, what="an attempt to post")
        limited = {"ok": False, "error": "ratelimited"}
        slack.outage = FakeResponse(429, limited, {"Retry-After": "1"})
        time.sleep(0.5)
        assert announcement(slack, request["id"]) is None
    finally:
        slack.outage = None
    message = eventually(lambda: announcement(slack, request["id"]), what="the late announcement")
    assert "Approved by boss@acme.io" in status(message)
    assert buttons(message) == []
    metrics = client.get("/metrics").text
    assert 'hookrunner_slack_messages_total{result="retried"}' in metrics


def test_a_click_from_another_workspace_is_refused(
    daemon: RunningDaemon, slack: FakeSlack, client: httpx.Client
) -> None:
    request, _message = announced(slack, client)
    form = button_click(slack, "hookrunner_approve", request["id"], BOSS, CHANNEL, "T0OTHER")
    assert post_signed(daemon, form)[0].status_code == 200
    name = json.loads(form["payload"])["response_url"].rsplit("/", 1)[1]
    told = eventually(lambda: [r for r in slack.responses if r["name"] == name], what="refusal")
    assert "T0OTHER" in told[0]["text"] and "not the one configured" in told[0]["text"]
    _unchanged(slack, client, request, 0)


def test_an_announcement_slack_refuses_is_given_up_and_noted(
    slack: FakeSlack, client: httpx.Client
) -> None:
    body = {"user": {"email": "dev@acme.io"}, "fields": {"db": "orders"}}
    request = client.post("/v1/flows/nowhere/requests", json=body).json()

    def noted() -> Any:
        history = client.get(f"/v1/requests/{request['id']}").json()["history"]
        return [e for e in history if "was not delivered" in (e["message"] or "")]

    entry = eventually(noted, what="the give-up note")[0]
    assert "channel_not_found" in entry["message"] or "no channel" in entry["message"]
    assert request["state"] == "pending"  # the request itself is unaffected


def test_messages_owed_when_the_daemon_dies_are_delivered_after_restart(
    daemon: RunningDaemon, slack: FakeSlack
) -> None:
    slack.outage = FakeResponse(503, {"ok": False, "error": "service_unavailable"})
    try:
        with daemon.client("flows-token") as client:
            request = open_request(client)
            decided = client.post(
                f"/v1/requests/{request['id']}/deny", json={"user": {"email": "boss@acme.io"}}
            )
            assert decided.json()["state"] == "denied"
        daemon.kill()
    finally:
        slack.outage = None
    daemon.start()
    message = eventually(lambda: announcement(slack, request["id"]), what="the announcement")
    assert "Denied by boss@acme.io" in status(message)
    direct = eventually(lambda: announcement(slack, request["id"], "D0DEV"), what="the DM")
    assert "Denied by boss@acme.io" in json.dumps(direct["blocks"])


def test_the_webhook_answers_404_when_no_signing_secret_is_configured(
    tmp_path: Path, slack: FakeSlack
) -> None:
    work_repo = WorkRepo(tmp_path / "git")
    work_repo.commit({"flows/db-access/impl.py": IMPL, "flows/db-access/flow.toml": TOML})
    running = RunningDaemon(tmp_path, str(work_repo.bare))
    running.start()
    try:
        with running.client(None) as anonymous:
            answer = anonymous.post("/v1/webhooks/slack", content=b"payload=%7B%7D")
        assert answer.status_code == 404
    finally:
        running.stop()


json_leaves = st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=8))
json_values = st.recursive(
    json_leaves,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner,
                                                                 max_size=3),
    max_leaves=12,
)  # fmt: skip
payloads = st.fixed_dictionaries(
    {"type": st.sampled_from(["block_actions", "view_submission", "shortcut", 7])},
    optional={
        "user": json_values | st.fixed_dictionaries({"id": st.sampled_from([BOSS, "U0NONE"])}),
        "team": json_values,
        "trigger_id": json_values,
        "response_url": st.sampled_from(["", "http://127.0.0.1:9/x", "https://hooks.slack.com/x"]),
        "actions": json_values
        | st.lists(st.fixed_dictionaries({"action_id": st.sampled_from(["hookrunner_deny", 1]),
                                          "value": json_values}), max_size=2),
        "view": json_values
        | st.fixed_dictionaries({"callback_id": st.sampled_from(["hookrunner_request", "x"]),
                                 "private_metadata": st.sampled_from(["db-access", "nope", ""]),
                                 "state": json_values, "blocks": json_values}),
    },
)  # fmt: skip
forms = st.one_of(
    payloads.map(lambda p: {"payload": json.dumps(p)}),
    st.fixed_dictionaries({"payload": st.text(max_size=20)}),
    st.dictionaries(st.sampled_from(["command", "text", "user_id", "team_id", "trigger_id"]),
                    st.text(max_size=12), max_size=5),
)  # fmt: skip


def test_signed_but_malformed_slack_requests_never_answer_5xx(
    daemon: RunningDaemon, client: httpx.Client
) -> None:
    pending = open_request(client)

    @settings(max_examples=80, deadline=None, suppress_health_check=list(HealthCheck))
    @given(form=forms)
    def check(form: dict[str, str]) -> None:
        answer = post_signed(daemon, form)[0]
        assert answer.status_code < 500, answer.text
        if answer.status_code >= 400:
            assert answer.headers["content-type"] == "application/problem+json"

    check()
    assert daemon.process is not None and daemon.process.poll() is None
    with daemon.client() as admin:
        assert admin.get("/healthz").status_code == 200
    assert state_of(client, pending["id"]) == "pending"  # nobody who may decide clicked
