"""Secrets never reach a log line or a config error, whatever characters they hold."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import free_port

from hookrunner.config import ConfigError, load_settings
from hookrunner.logs import REDACTED, redact_url

TOKEN = "ghp_16C7e42F292c6912E7710c838347Ae178B4a"
PASSWORD = "s3cr/et:p@ss"


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        (f"https://{TOKEN}@git.example.com/acme/runbooks.git", TOKEN),
        (f"https://bot:{PASSWORD}@git.example.com/acme/runbooks.git", PASSWORD),
        (f"fatal: unable to access 'https://x:{TOKEN}@h/r.git/': 403", TOKEN),
        (f"ssh://deploy:{PASSWORD}@host:22/r.git and http://{TOKEN}@other/", TOKEN),
        ("ssh://git@host/x", "git@"),
    ],
)
def test_any_url_userinfo_is_redacted(text: str, secret: str) -> None:
    redacted = redact_url(text)
    assert secret not in redacted
    assert f"://{REDACTED}@" in redacted


def test_urls_without_userinfo_are_left_alone() -> None:
    text = "fetched https://git.example.com/acme/runbooks.git at 3f2a"
    assert redact_url(text) == text


# An existing clone whose fetch fails is healed by re-cloning: the ``git_heal`` line.
SYNC_SCRIPT = """
import subprocess
import sys
from pathlib import Path
from hookrunner.config import RepoSettings
from hookrunner.logs import configure_logging
from hookrunner.repo.gitcli import GitError
from hookrunner.repo.sync import Syncer

configure_logging("json", "info")
subprocess.run(["git", "init", "-q", "--bare", str(Path(sys.argv[2]) / "clone.git")], check=True)
try:
    Syncer(RepoSettings(url=sys.argv[1], fetch_timeout=30), Path(sys.argv[2])).sync()
except GitError as exc:
    print("raised", exc, file=sys.stderr)
"""


@pytest.mark.parametrize(
    "userinfo", [TOKEN, f"bot:{PASSWORD}", f"{TOKEN}:x-oauth-basic"], ids=["token", "slash", "pair"]
)
def test_git_heal_never_logs_the_url_credentials(tmp_path: Path, userinfo: str) -> None:
    url = f"http://{userinfo}@127.0.0.1:{free_port()}/acme/runbooks.git"
    done = subprocess.run(
        [sys.executable, "-c", SYNC_SCRIPT, url, str(tmp_path / "state")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    output = done.stdout + done.stderr
    events = [json.loads(line) for line in done.stderr.splitlines() if line.startswith("{")]
    assert any(event["event"] == "git_heal" for event in events), output
    assert "raised" in output
    for secret in (TOKEN, PASSWORD, "s3cr"):
        assert secret not in output


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("[webhooks]\nhoop_secret = 123456789\n", "webhooks.hoop_secret"),
        ('[repo]\npasword = "123456789"\n', "repo.pasword"),
        ("[executor]\nenv = { API_KEY = 123456789 }\n", "executor.env.API_KEY"),
        ("[repo]\npassword_file = 123456789\n", "repo.password_file"),
        ('[integrations.slack]\ntype = "slack"\ntoken = "123456789"\n', "integrations.slack"),
    ],
)
def test_config_errors_name_the_key_never_a_secret_value(
    tmp_path: Path, text: str, key: str
) -> None:
    config = tmp_path / "hookrunner.toml"
    config.write_text(text)
    with pytest.raises(ConfigError) as caught:
        load_settings(config)
    assert key in str(caught.value)
    assert "123456789" not in str(caught.value)


def test_config_errors_still_show_plain_values(tmp_path: Path) -> None:
    config = tmp_path / "hookrunner.toml"
    config.write_text('[server]\nlisten = "nowhere"\n')
    with pytest.raises(ConfigError, match="nowhere"):
        load_settings(config)
