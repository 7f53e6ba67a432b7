"""The Okta client against a local fake of the management API."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from hookrunner.config import IntegrationSettings
from hookrunner.integrations.errors import OktaError, SymIntegrationError
from hookrunner.integrations.okta import OktaClient
from hookrunner_dev.fakes.base import settings_for
from hookrunner_dev.fakes.okta import FakeOkta


@pytest.fixture
def fake() -> Iterator[FakeOkta]:
    fake = FakeOkta()
    for number, email in enumerate(["dev@acme.io", "dba@acme.io", "ops@acme.io", "ceo@acme.io"]):
        fake.add_user(f"00u{number}", email)
    fake.add_group("00gDB", "db-admins")
    fake.add_group("00gOPS", "ops")
    fake.add_group("00gAPP", "db-app", kind="APP_GROUP")
    fake.members["00gDB"] = ["00u1", "00u2", "00u3"]
    for number in range(5):  # enough groups to page the dev's memberships
        fake.add_group(f"00gX{number}", f"extra-{number}")
        fake.members[f"00gX{number}"] = ["00u0"]
    yield fake.start()
    fake.stop()


@pytest.fixture
def okta(fake: FakeOkta, tmp_path: Path) -> Iterator[OktaClient]:
    client = OktaClient("okta", settings_for(fake, tmp_path, "okta"))
    yield client
    client.close()


def test_membership_and_members_follow_link_pages(okta: OktaClient, fake: FakeOkta) -> None:
    assert okta.is_user_in_group("dba@acme.io", group_id="00gDB")
    assert not okta.is_user_in_group("dev@acme.io", group_id="00gDB")
    assert okta.is_user_in_group("dev@acme.io", group_id="00gX4")  # on the third page
    assert len(fake.calls("/api/v1/users/00u0/groups")) == 3
    members = okta.users_in_group(group_id="00gDB")
    assert [m["email"] for m in members] == ["dba@acme.io", "ops@acme.io", "ceo@acme.io"]
    assert members[0] == {"email": "dba@acme.io", "id": "00u1", "name": "dba@acme.io"}
    sent = fake.calls("/api/v1/groups/00gDB/users")[0]
    assert sent.headers["authorization"] == f"SSWS {fake.token}"


def test_unknown_group_or_user_is_okta_not_found(okta: OktaClient) -> None:
    with pytest.raises(OktaError) as group:
        okta.is_user_in_group("dev@acme.io", group_id="00gNOPE")
    assert (group.value.status, group.value.code) == (404, "E0000007")
    assert "Not found" in group.value.message
    with pytest.raises(OktaError):
        okta.get_user_info("stranger@acme.io")
    assert okta.get_user_info("ops@acme.io")["id"] == "00u2"


def test_list_groups_native_only_by_default(okta: OktaClient) -> None:
    assert [g["id"] for g in okta.list_groups(name_filter="db")] == ["00gDB"]
    both = okta.list_groups(name_filter="db", only_native_groups=False)
    assert [g["id"] for g in both] == ["00gDB", "00gAPP"]
    assert len(okta.list_groups()) == 7


def test_strategy_adds_and_removes_idempotently(okta: OktaClient, fake: FakeOkta) -> None:
    okta.add_user_to_group("dev@acme.io", "00gOPS")
    okta.add_user_to_group("dev@acme.io", "00gOPS")
    assert fake.members["00gOPS"] == ["00u0"]
    assert okta.is_user_in_group("dev@acme.io", group_id="00gOPS")
    okta.remove_user_from_group("dev@acme.io", "00gOPS")
    assert not okta.is_user_in_group("dev@acme.io", group_id="00gOPS")  # not a stale cache
    okta.remove_user_from_group("dev@acme.io", "00gOPS")
    assert fake.members["00gOPS"] == []
    with pytest.raises(OktaError):
        okta.add_user_to_group("dev@acme.io", "00gNOPE")


def test_rate_limit_waits_until_the_reset(okta: OktaClient, fake: FakeOkta) -> None:
    fake.fail_next(fake.ratelimited(1))
    started = time.monotonic()
    assert okta.get_user_info("dev@acme.io")["id"] == "00u0"
    assert time.monotonic() - started >= 0.1
    assert len(fake.calls("/api/v1/users/dev@acme.io")) == 2


def test_bad_token(fake: FakeOkta, tmp_path: Path) -> None:
    okta = OktaClient("okta", settings_for(fake, tmp_path, "okta", token="wrong"))
    with pytest.raises(OktaError) as refused:
        okta.list_groups()
    assert (refused.value.status, refused.value.code) == (401, "E0000011")


def test_a_next_link_to_another_host_is_refused(okta: OktaClient, fake: FakeOkta) -> None:
    fake.link_base = "http://attacker.invalid/"
    with pytest.raises(OktaError, match="outside"):
        okta.users_in_group(group_id="00gDB")
    assert all("attacker" not in str(r.headers) for r in fake.requests)


def test_the_address_comes_from_the_org_domain() -> None:
    settings = IntegrationSettings(type="okta", external_id="acme.okta.com", token_file="t")
    assert OktaClient("okta", settings).base_url == "https://acme.okta.com/"
    with pytest.raises(SymIntegrationError, match=r"\[integrations.okta\] needs api_url"):
        OktaClient("okta", IntegrationSettings(type="okta"))
