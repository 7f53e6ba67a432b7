"""The GitHub client against a local fake of the REST API."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from hookrunner.integrations.errors import GitHubError, SymIntegrationError
from hookrunner.integrations.github import GitHubClient
from hookrunner_dev.fakes.base import settings_for
from hookrunner_dev.fakes.github import FakeGitHub


@pytest.fixture
def fake() -> Iterator[FakeGitHub]:
    fake = FakeGitHub()
    for login, role in [("ana", "admin"), ("bo", "write"), ("cy", "admin"), ("di", "read")]:
        fake.add_collaborator("acme/runbooks", login, role)
    yield fake.start()
    fake.stop()


@pytest.fixture
def github(fake: FakeGitHub, tmp_path: Path) -> GitHubClient:
    emails = {"ana": "ana@acme.io", "cy": "cy@acme.io"}
    settings = settings_for(
        fake, tmp_path, "github", external_id="acme", settings={"emails": emails}
    )
    return GitHubClient("github", settings)


def test_collaborators_by_exclusive_role_across_pages(
    github: GitHubClient, fake: FakeGitHub
) -> None:
    admins = github.get_repo_collaborators(repo_name="runbooks", roles=["admin"])
    assert admins == [
        {"email": "ana@acme.io", "id": "ana", "name": "admin"},
        {"email": "cy@acme.io", "id": "cy", "name": "admin"},
    ]
    assert len(fake.calls("/repos/acme/runbooks/collaborators")) == 2
    writers = github.get_repo_collaborators(repo_name="runbooks", roles=["admin", "write"])
    assert [p["id"] for p in writers] == ["ana", "bo", "cy"]
    assert writers[1]["email"] == ""  # no e-mail is configured for this login
    sent = fake.calls("/repos/acme/runbooks/collaborators")[0]
    assert sent.headers["authorization"] == f"Bearer {fake.token}"


def test_errors(github: GitHubClient, fake: FakeGitHub, tmp_path: Path) -> None:
    with pytest.raises(GitHubError) as missing:
        github.get_repo_collaborators(repo_name="nope", roles=["admin"])
    assert missing.value.status == 404
    with pytest.raises(GitHubError, match="unknown roles"):
        github.get_repo_collaborators(repo_name="runbooks", roles=["owner"])
    wrong = GitHubClient("github", settings_for(fake, tmp_path, "github", token="bad"))
    with pytest.raises(SymIntegrationError, match="needs external_id"):
        wrong.get_repo_collaborators(repo_name="runbooks", roles=["admin"])
    wrong.settings = wrong.settings.model_copy(update={"external_id": "acme"})
    with pytest.raises(GitHubError, match="Bad credentials"):
        wrong.get_repo_collaborators(repo_name="runbooks", roles=["admin"])


def test_primary_rate_limit_waits_for_the_reset(github: GitHubClient, fake: FakeGitHub) -> None:
    fake.fail_next(fake.ratelimited(1))
    started = time.monotonic()
    assert github.get_repo_collaborators(repo_name="runbooks", roles=["read"])[0]["id"] == "di"
    assert time.monotonic() - started >= 0.1
