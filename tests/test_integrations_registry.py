"""Which integration a flow means, what a hook may call, and custom integrations."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from hookrunner.config import IntegrationSettings
from hookrunner.flows.sym._document import flow_from
from hookrunner.flows.sym.sdk.exceptions import SDKError
from hookrunner.flows.sym.sdk.flow import Flow
from hookrunner.flows.sym.sdk.secret import Secret
from hookrunner.integrations import Integrations, SymIntegrationError
from hookrunner.integrations.errors import OktaError
from hookrunner_dev.fakes.base import settings_for
from hookrunner_dev.fakes.okta import FakeOkta
from hookrunner_dev.fakes.slack import FakeSlack


@pytest.fixture
def okta() -> Iterator[FakeOkta]:
    fake = FakeOkta()
    fake.add_user("00u1", "dev@acme.io")
    fake.add_group("00gDB", "db")
    yield fake.start()
    fake.stop()


def test_a_flow_names_the_table_or_its_only_type(okta: FakeOkta, tmp_path: Path) -> None:
    integrations = Integrations({"corp-okta": settings_for(okta, tmp_path, "okta")})
    assert not integrations.call(
        "okta", "is_user_in_group", {"user": "dev@acme.io", "group_id": "00gDB"}
    )
    assert integrations.client("okta") is integrations.client("corp-okta")
    with pytest.raises(SymIntegrationError, match=r"add an \[integrations.pagerduty\] table"):
        integrations.call("pagerduty", "is_on_call", {"user": "dev@acme.io"})
    twice = Integrations(
        {"a": IntegrationSettings(type="slack"), "b": IntegrationSettings(type="slack")}
    )
    with pytest.raises(SymIntegrationError, match="several"):
        twice.client("slack")
    with pytest.raises(SymIntegrationError, match="type 'jira' is not supported"):
        Integrations({"jira": IntegrationSettings(type="jira")}).client("jira")


def test_hooks_reach_only_their_functions(okta: FakeOkta, tmp_path: Path) -> None:
    integrations = Integrations({"okta": settings_for(okta, tmp_path, "okta")})
    with pytest.raises(SymIntegrationError, match=r"okta\.add_user_to_group is not available"):
        integrations.call("okta", "add_user_to_group", {"user": "dev@acme.io", "group_id": "00gDB"})
    with pytest.raises(SymIntegrationError, match="not available"):
        integrations.call("okta", "_membership", {})
    assert okta.members["00gDB"] == []
    with pytest.raises(SymIntegrationError, match=r"okta\.users_in_group: missing a required"):
        integrations.call("okta", "users_in_group", {})
    with pytest.raises(SymIntegrationError, match="unexpected keyword"):
        integrations.call("okta", "users_in_group", {"group_id": "00gDB", "evil": 1})
    with pytest.raises(OktaError):
        integrations.call("okta", "users_in_group", {"group_id": "00gNOPE"})


def test_slack_destination_through_the_registry(tmp_path: Path) -> None:
    fake = FakeSlack().start()
    try:
        fake.add_user("U1", "boss@acme.io", "boss")
        fake.add_channel("C1", "approvers", ["U1"])
        integrations = Integrations({"slack": settings_for(fake, tmp_path, "slack")})
        destination = {"type": "slack_channel", "name": "#approvers", "allow_self": False}
        emails = integrations.call("slack", "resolve_destination", {"destination": destination})
        assert emails == ["boss@acme.io"]
    finally:
        fake.stop()


def test_custom_settings_and_secrets(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    credentials = tmp_path / "credentials"
    credentials.mkdir()
    (credentials / "circleci-token").write_text("cci-secret-value\n")
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(credentials))
    custom = IntegrationSettings(
        type="custom",
        external_id="acme",
        settings={"org": "acme"},
        secrets={"api_token_secret": "circleci-token", "gone": "missing-file"},
    )
    integrations = Integrations({"circleci": custom})
    described = integrations.call("circleci", "get_settings", {})
    assert described == {"type": "custom", "external_id": "acme", "settings": {"org": "acme"}}
    secret = integrations.call("circleci", "retrieve_secret", {"name": "api_token_secret"})
    assert secret == "cci-secret-value"
    with pytest.raises(SymIntegrationError, match=r"has no secrets\.other"):
        integrations.call("circleci", "retrieve_secret", {"name": "other"})
    with pytest.raises(SymIntegrationError, match=r"secrets\.gone cannot be read"):
        integrations.call("circleci", "retrieve_secret", {"name": "gone"})


def test_the_sym_tree_turns_secret_names_into_secrets_and_refuses_other_shapes() -> None:
    def flow(secrets: object) -> Flow:
        integration = {"type": "custom", "settings": {"org": "acme"}, "secrets": secrets}
        environment = {"integrations": {"circleci": integration}}
        return flow_from({"srn": "hookrunner:flow:ci:latest", "environment": environment})

    settings = flow(["api_token_secret"]).environment.integrations["circleci"].settings
    assert settings["org"] == "acme"
    secret = settings["api_token_secret"]
    assert isinstance(secret, Secret)
    assert (secret.path, secret.source.settings) == (
        "api_token_secret",
        {"integration": "circleci"},
    )
    with pytest.raises(SDKError, match="secrets must be a list of names"):
        flow({"api_token_secret": "/etc/hookrunner/circleci-token"})


def test_a_reload_reaches_the_next_call(okta: FakeOkta, tmp_path: Path) -> None:
    moved = FakeOkta(token="00anotherOktaToken")
    moved.add_user("00u1", "dev@acme.io")
    moved.add_group("00gDB", "db")
    moved.members["00gDB"] = ["00u1"]
    moved.start()
    try:
        integrations = Integrations({"okta": settings_for(okta, tmp_path, "okta")})
        question = {"user": "dev@acme.io", "group_id": "00gDB"}
        assert not integrations.call("okta", "is_user_in_group", question)
        (tmp_path / "moved").mkdir()
        integrations.reconfigure({"okta": settings_for(moved, tmp_path / "moved", "okta")})
        assert integrations.call("okta", "is_user_in_group", question)
        integrations.reconfigure({})
        with pytest.raises(SymIntegrationError, match="not configured"):
            integrations.call("okta", "is_user_in_group", question)
    finally:
        moved.stop()
