"""Settings: TOML, env overrides, hoop's GIT_* names, secret files, one-line errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from hookrunner.config import ConfigError, load_settings, read_secret
from hookrunner.logs import redact_secrets, redact_url


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("GIT_URL", "GIT_HOOK_CONFIG_TTL", "GIT_SSH_KEY", "HOOKRUNNER_CONFIG"):
        monkeypatch.delenv(name, raising=False)


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "hookrunner.toml"
    path.write_text(text)
    return path


def test_defaults_match_the_contract(tmp_path: Path) -> None:
    settings = load_settings(write(tmp_path, ""))
    assert settings.repo.ttl == 60 and settings.repo.refresh_wait == 2.0
    assert settings.executor.timeout == 30 and settings.executor.kill_grace == 5
    assert settings.executor.max_output_bytes == 65536
    assert settings.executor.env_passthrough == ["PATH", "LANG", "LC_ALL", "TZ"]
    assert settings.retry.backoff == [5, 30, 300] and settings.retry.max_attempts == 3
    assert settings.server.listen == "127.0.0.1:8080"
    assert settings.server.max_body_bytes == 1048576


def test_toml_then_env_overrides(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path, '[repo]\nurl = "file:///from-toml"\nttl = 10\n[executor]\ntimeout = 7\n')
    monkeypatch.setenv("HOOKRUNNER_REPO__TTL", "99")
    settings = load_settings(path)
    assert settings.repo.url == "file:///from-toml"
    assert settings.repo.ttl == 99
    assert settings.executor.timeout == 7


def test_hoop_git_names_are_accepted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GIT_URL", "git@example.com:acme/runbooks.git")
    monkeypatch.setenv("GIT_HOOK_CONFIG_TTL", "15")
    monkeypatch.setenv("GIT_SSH_KEY", "-----BEGIN OPENSSH PRIVATE KEY-----\nabc\n")
    settings = load_settings(write(tmp_path, '[repo]\nurl = "ignored"\n'))
    assert settings.repo.url == "git@example.com:acme/runbooks.git"
    assert settings.repo.ttl == 15
    assert "PRIVATE KEY" in settings.repo.ssh_key.get_secret_value()


@pytest.mark.parametrize(
    ("text", "names"),
    [
        ('[repo]\nttl = "soon"\n', "repo.ttl"),
        ("[executor]\nmax_concurrency = 0\n", "executor.max_concurrency"),
        ('[server]\nlisten = "nowhere"\n', "server.listen"),
        ('[repo]\nsubdir = "../etc"\n', "repo.subdir"),
        ("[executor]\ntimout = 3\n", "executor.timout"),
        ("[repo\n", "hookrunner.toml"),
    ],
)
def test_bad_values_fail_with_one_line_naming_the_key(
    tmp_path: Path, text: str, names: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(write(tmp_path, text))
    message = str(caught.value)
    assert names in message and "\n" not in message


def test_missing_explicit_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_settings(tmp_path / "absent.toml")


def test_secret_files_resolve_in_credentials_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "git-token").write_text("first\n")
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(tmp_path))
    settings = load_settings(
        write(tmp_path, '[repo]\nusername = "bot"\npassword_file = "git-token"\n')
    )
    assert read_secret(settings.repo.password, settings.repo.password_file) == "first"
    (tmp_path / "git-token").write_text("rotated\n")
    assert read_secret(settings.repo.password, settings.repo.password_file) == "rotated"


def test_secrets_are_redacted_from_log_events() -> None:
    event = {
        "event": "git_sync",
        "url": "https://bot:tok3n@git.example.com/acme/runbooks.git",
        "token": "abc",
        "connection_envs": {"PGPASSWORD": "hunter2"},
    }
    rendered = str(redact_secrets(None, "info", dict(event)))
    assert "tok3n" not in rendered and "abc" not in rendered and "hunter2" not in rendered
    assert redact_url("ssh://git@host/x") == "ssh://[redacted]@host/x"
