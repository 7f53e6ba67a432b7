"""The PagerDuty client against a local fake of REST API v2."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from hookrunner.integrations.errors import PagerDutyError
from hookrunner.integrations.pagerduty import PagerDutyClient
from hookrunner_dev.fakes.base import settings_for
from hookrunner_dev.fakes.pagerduty import FakePagerDuty


def incident(number: int, status: str, urgency: str, assignee: str) -> dict[str, object]:
    return {
        "id": f"Q{number}",
        "incident_number": number,
        "status": status,
        "urgency": urgency,
        "service": {"id": "PSVC1", "type": "service_reference"},
        "assignments": [{"assignee": {"id": assignee, "type": "user_reference"}}],
    }


@pytest.fixture
def fake() -> Iterator[FakePagerDuty]:
    fake = FakePagerDuty()
    fake.add_user("PU1", "dev@acme.io", "Dev")
    fake.add_user("PU2", "sre@acme.io", "Sre")
    fake.add_user("PU3", "dba@acme.io", "Dba")
    fake.add_user("PU4", "sre-lead@acme.io", "Sre Lead")
    fake.policies = [
        {"id": "PEP1", "name": "Database"},
        {"id": "PEP2", "name": "Database Backup"},
    ]
    fake.schedules = [{"id": "PSC1", "name": "DB primary"}]
    fake.add_oncall("PU2", "PEP1", "PSC1")
    fake.add_oncall("PU3", "PEP1", "PSC1")
    fake.add_oncall("PU4", "PEP2")
    fake.add_oncall("PU2", "PEP2")
    fake.incidents = [
        incident(1, "triggered", "high", "PU2"),
        incident(2, "resolved", "high", "PU3"),
        incident(3, "acknowledged", "low", "PU3"),
    ]
    yield fake.start()
    fake.stop()


@pytest.fixture
def pagerduty(fake: FakePagerDuty, tmp_path: Path) -> Iterator[PagerDutyClient]:
    client = PagerDutyClient("pagerduty", settings_for(fake, tmp_path, "pagerduty"))
    yield client
    client.close()


def test_on_call_anywhere_or_for_a_named_policy_or_schedule(
    pagerduty: PagerDutyClient, fake: FakePagerDuty
) -> None:
    assert pagerduty.is_on_call("sre@acme.io")
    assert not pagerduty.is_on_call("dev@acme.io")
    assert not pagerduty.is_on_call("stranger@acme.io")
    assert pagerduty.is_on_call("sre-lead@acme.io", escalation_policy_name="Database Backup")
    assert not pagerduty.is_on_call("sre-lead@acme.io", escalation_policy_name="Database")
    assert pagerduty.is_on_call("dba@acme.io", schedule_name="DB primary")
    assert pagerduty.is_on_call("dba@acme.io", escalation_policy_id="PEP1")
    sent = fake.calls("/oncalls")[0]
    assert sent.headers["authorization"] == f"Token token={fake.token}"
    assert sent.headers["accept"] == "application/vnd.pagerduty+json;version=2"
    assert sent.query["user_ids[]"] == ["PU2"]


def test_an_unknown_policy_name_is_an_error(pagerduty: PagerDutyClient) -> None:
    with pytest.raises(PagerDutyError, match="no escalation policy is named 'Nope'"):
        pagerduty.is_on_call("sre@acme.io", escalation_policy_name="Nope")


def test_users_on_call_page_through_offsets(
    pagerduty: PagerDutyClient, fake: FakePagerDuty
) -> None:
    everyone = pagerduty.users_on_call()
    assert [p["email"] for p in everyone] == ["sre@acme.io", "dba@acme.io", "sre-lead@acme.io"]
    assert everyone[0] == {"email": "sre@acme.io", "id": "PU2", "name": "Sre"}
    offsets = [r.query["offset"] for r in fake.calls("/oncalls")]
    assert offsets == [["0"], ["2"]]
    backup = pagerduty.users_on_call(escalation_policy_name="Database Backup")
    assert [p["email"] for p in backup] == ["sre-lead@acme.io", "sre@acme.io"]


def test_users_for_schedule(pagerduty: PagerDutyClient) -> None:
    emails = [p["email"] for p in pagerduty.users_for_schedule(schedule_name="DB primary")]
    assert emails == ["sre@acme.io", "dba@acme.io"]
    with pytest.raises(PagerDutyError) as missing:
        pagerduty.users_for_schedule(schedule_id="PNOPE")
    assert (missing.value.status, missing.value.code) == (404, "2100")
    with pytest.raises(PagerDutyError, match="needs schedule_name or schedule_id"):
        pagerduty.users_for_schedule()


def test_incidents_default_to_open_high_urgency(
    pagerduty: PagerDutyClient, fake: FakePagerDuty
) -> None:
    assert [i["id"] for i in pagerduty.get_incidents()] == ["Q1"]
    sent = fake.calls("/incidents")[0].query
    assert sent["statuses[]"] == ["triggered", "acknowledged"]
    assert sent["urgencies[]"] == ["high"]
    assert "since" in sent and "until" in sent
    assert pagerduty.has_incident(assignees=["sre@acme.io"])
    assert not pagerduty.has_incident(assignees=["dba@acme.io"])
    assert pagerduty.has_incident(assignees=["dba@acme.io"], urgencies=["LOW"])
    assert not pagerduty.has_incident(assignees=["stranger@acme.io"])
    found = pagerduty.get_incidents(statuses=["RESOLVED"], since="2026-01-01T00:00:00+00:00")
    assert [i["id"] for i in found] == ["Q2"]


def test_bad_token_and_rate_limit(fake: FakePagerDuty, tmp_path: Path) -> None:
    wrong = PagerDutyClient("pagerduty", settings_for(fake, tmp_path, "pagerduty", token="nope"))
    with pytest.raises(PagerDutyError) as refused:
        wrong.users_on_call()
    assert (refused.value.status, refused.value.code) == (401, "2006")
    assert "Unauthorized" in refused.value.message
    right = PagerDutyClient("pagerduty", settings_for(fake, tmp_path, "pagerduty"))
    fake.fail_next(fake.ratelimited(1))
    started = time.monotonic()
    assert right.is_on_call("sre@acme.io")
    assert time.monotonic() - started >= 0.9
