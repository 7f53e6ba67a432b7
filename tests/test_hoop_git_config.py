"""hoop's GIT_* names with hoop's meanings: plain, or base64 as hoop's plugin config keeps them."""

from __future__ import annotations

from pathlib import Path

import pytest
from hoop_env import b64, hoop_repo_settings

from hookrunner.config import ConfigError, RepoSettings, load_settings
from hookrunner.hoop_values import CHECKS

KEY = (
    "-----BEGIN OPENSSH PRIVATE KEY-----\n"
    + "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW\n" * 4
    + "-----END OPENSSH PRIVATE KEY-----\n"
)
KNOWN_HOSTS = (
    "# pinned by the platform team\n"
    "github.com ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl\n"
    "[git.example.com]:2222 ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAy\n"
)


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [*CHECKS, "HOOKRUNNER_CONFIG"]:
        monkeypatch.delenv(name, raising=False)


def wrapped_b64(text: str) -> str:
    """As ``base64`` prints it: 76 columns, which Go's decoder (and hoop) accepts."""
    flat = b64(text)
    return "\n".join(flat[i : i + 76] for i in range(0, len(flat), 76)) + "\n"


def field(repo: RepoSettings, key: str) -> object:
    value = getattr(repo, key)
    return value.get_secret_value() if hasattr(value, "get_secret_value") else value


@pytest.mark.parametrize("encode", [str, b64], ids=["plain", "base64"])
@pytest.mark.parametrize(
    ("name", "key", "value", "expected"),
    [
        ("GIT_URL", "url", "git@github.com:acme/runbooks.git", None),
        ("GIT_URL", "url", "https://git.example.com/acme/runbooks.git", None),
        ("GIT_USER", "username", "deploy-bot", None),
        ("GIT_PASSWORD", "password", "ghp_16C7e42F292c6912E7710c838347Ae178B4a", None),
        ("GIT_SSH_USER", "ssh_user", "gitlab", None),
        ("GIT_SSH_KEYPASS", "ssh_key_passphrase", "correct horse battery staple", None),
        ("GIT_SSH_KNOWN_HOSTS", "known_hosts", KNOWN_HOSTS, None),
        ("GIT_HOOK_CONFIG_TTL", "ttl", "30", 30.0),
        ("GIT_SSH_KEY", "ssh_key", KEY, None),
    ],
)
def test_each_hoop_name_means_what_it_means_in_hoop_plain_or_base64(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    encode: object,
    name: str,
    key: str,
    value: str,
    expected: object,
) -> None:
    assert callable(encode)
    repo = hoop_repo_settings(tmp_path, monkeypatch, **{name: encode(value)})
    assert field(repo, key) == (value if expected is None else expected)


def test_hoops_stored_ttl_is_no_longer_a_config_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert hoop_repo_settings(tmp_path, monkeypatch, GIT_HOOK_CONFIG_TTL="MzA=").ttl == 30


def test_a_key_base64_wrapped_at_76_columns_decodes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    encoded = wrapped_b64(KEY)
    assert encoded.count("\n") > 2
    repo = hoop_repo_settings(tmp_path, monkeypatch, GIT_SSH_KEY=encoded)
    assert repo.ssh_key.get_secret_value() == KEY


def test_a_key_path_stays_a_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    repo = hoop_repo_settings(tmp_path, monkeypatch, GIT_SSH_KEY="/etc/hookrunner/deploy_key")
    assert repo.ssh_key_file == "/etc/hookrunner/deploy_key"
    assert repo.ssh_key.get_secret_value() == ""


@pytest.mark.parametrize(
    ("name", "key", "value"),
    [
        # Valid base64 of valid UTF-8 ("㍴"), but not a number: the digits are meant.
        ("GIT_HOOK_CONFIG_TTL", "ttl", "4424"),
        # Valid base64, but not UTF-8 text: a plain password.
        ("GIT_PASSWORD", "password", "abcd1234"),
        # Valid base64 of text with a space: not a user name.
        ("GIT_USER", "username", "aGkgdGhlcmU="),
        # Valid base64 of binary: a local path.
        ("GIT_URL", "url", "/srv/git/runbook"),
    ],
)
def test_plain_values_that_happen_to_be_base64_stay_plain(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, key: str, value: str
) -> None:
    repo = hoop_repo_settings(tmp_path, monkeypatch, **{name: value})
    got = field(repo, key)
    assert got == (float(value) if key == "ttl" else value)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("GIT_SSH_KNOWN_HOSTS", "/etc/ssh/ssh_known_hosts"),
        ("GIT_SSH_KNOWN_HOSTS", b64("not a known_hosts file")),
        ("GIT_HOOK_CONFIG_TTL", "soon"),
        ("GIT_HOOK_CONFIG_TTL", b64("-5")),
    ],
)
def test_values_that_mean_nothing_fail_naming_hoops_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        hoop_repo_settings(tmp_path, monkeypatch, **{name: value})
    message = str(caught.value)
    assert message.startswith(f"{name}: ") and "\n" not in message
    assert value not in message


def test_known_hosts_in_toml_is_content_too(tmp_path: Path) -> None:
    path = tmp_path / "hookrunner.toml"
    path.write_text('[repo]\nknown_hosts = "/etc/hookrunner/known_hosts"\n')
    with pytest.raises(ConfigError, match=r"repo\.known_hosts: .*known_hosts content"):
        load_settings(path)


def test_hookrunner_names_are_never_decoded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = hoop_repo_settings(tmp_path, monkeypatch, HOOKRUNNER_REPO__USERNAME="ZGVwbG95")
    assert repo.username == "ZGVwbG95"
    assert hoop_repo_settings(tmp_path, monkeypatch, GIT_USER="ZGVwbG95").username == "ZGVwbG95"
