"""SSH auth against a throwaway sshd on 127.0.0.1: deploy key + strict known_hosts."""

from __future__ import annotations

import getpass
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import WorkRepo, free_port, wait_for_port
from hoop_env import b64, hoop_repo_settings

from hookrunner.config import RepoSettings
from hookrunner.repo import Repository

SSHD = shutil.which("sshd") or "/usr/sbin/sshd"
pytestmark = [
    pytest.mark.skipif(not os.path.exists(SSHD), reason="sshd is not installed (openssh-server)"),
    pytest.mark.skipif(os.geteuid() != 0, reason="a throwaway sshd needs root for privsep"),
]


def keygen(path: Path) -> None:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path)], check=True)


@pytest.fixture
def sshd(tmp_path: Path) -> Iterator[tuple[int, Path, Path]]:
    """Yield (port, client key, known_hosts) for an sshd that admits only that key."""
    ssh = tmp_path / "ssh"
    ssh.mkdir()
    for name in ("host", "client", "stranger"):
        keygen(ssh / name)
    (ssh / "authorized_keys").write_text((ssh / "client.pub").read_text())
    port = free_port()
    config = ssh / "sshd_config"
    config.write_text(
        f"Port {port}\nListenAddress 127.0.0.1\nHostKey {ssh / 'host'}\n"
        f"AuthorizedKeysFile {ssh / 'authorized_keys'}\nPidFile {ssh / 'sshd.pid'}\n"
        "PasswordAuthentication no\nKbdInteractiveAuthentication no\nPermitRootLogin yes\n"
        "StrictModes no\nUsePAM no\n"
    )
    Path("/run/sshd").mkdir(exist_ok=True)
    log = ssh / "sshd.log"  # who tried to log in, for the tests that ask
    process = subprocess.Popen([SSHD, "-D", "-E", str(log), "-f", str(config)])
    try:
        wait_for_port(port)
        known_hosts = ssh / "known_hosts"
        known_hosts.write_text(f"[127.0.0.1]:{port} {(ssh / 'host.pub').read_text()}")
        yield port, ssh / "client", known_hosts
    finally:
        process.terminate()
        process.wait(10)


def ssh_url(port: int, repo: WorkRepo) -> str:
    return f"ssh://{getpass.getuser()}@127.0.0.1:{port}{repo.bare}"


def test_clone_over_ssh_with_deploy_key_and_known_hosts(
    sshd: tuple[int, Path, Path], work_repo: WorkRepo, tmp_path: Path
) -> None:
    port, key, known_hosts = sshd
    settings = RepoSettings(
        url=ssh_url(port, work_repo), ssh_key_file=str(key), known_hosts_file=str(known_hosts)
    )
    report = Repository(settings, tmp_path / "state").refresh()
    assert report is not None and report.ok, report


def test_unknown_host_key_is_refused(
    sshd: tuple[int, Path, Path], work_repo: WorkRepo, tmp_path: Path
) -> None:
    port, key, known_hosts = sshd
    impostor = tmp_path / "impostor_known_hosts"
    stranger_pub = (known_hosts.parent / "stranger.pub").read_text()
    impostor.write_text(f"[127.0.0.1]:{port} {stranger_pub}")
    settings = RepoSettings(
        url=ssh_url(port, work_repo), ssh_key_file=str(key), known_hosts_file=str(impostor)
    )
    report = Repository(settings, tmp_path / "state").refresh()
    assert report is not None and not report.ok
    assert "host key" in (report.error or "").lower()


def test_key_not_authorized_is_refused(
    sshd: tuple[int, Path, Path], work_repo: WorkRepo, tmp_path: Path
) -> None:
    port, key, known_hosts = sshd
    settings = RepoSettings(
        url=ssh_url(port, work_repo),
        ssh_key_file=str(key.parent / "stranger"),
        known_hosts_file=str(known_hosts),
    )
    report = Repository(settings, tmp_path / "state").refresh()
    assert report is not None and not report.ok


# hoop's GIT_* names, from the environment as a hoop gateway has them.


def hoop_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, **env: str) -> RepoSettings:
    for name in ("GIT_USER", "GIT_PASSWORD", "GIT_SSH_KEYPASS", "GIT_HOOK_CONFIG_TTL"):
        monkeypatch.delenv(name, raising=False)
    return hoop_repo_settings(tmp_path, monkeypatch, **env)


@pytest.mark.parametrize("encode", [str, b64], ids=["plain", "base64"])
def test_hoop_known_hosts_content_becomes_a_private_file(
    sshd: tuple[int, Path, Path],
    work_repo: WorkRepo,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    encode: object,
) -> None:
    assert callable(encode)
    port, key, known_hosts = sshd
    content = known_hosts.read_text()
    settings = hoop_env(
        monkeypatch,
        tmp_path,
        GIT_URL=encode(ssh_url(port, work_repo)),
        GIT_SSH_KEY=encode(key.read_text()),
        GIT_SSH_KNOWN_HOSTS=encode(content),
    )
    report = Repository(settings, tmp_path / "state").refresh()
    assert report is not None and report.ok, report
    written = tmp_path / "state" / "repo" / "private" / "known_hosts"
    assert written.read_text() == content
    assert written.stat().st_mode & 0o777 == 0o600


def test_hoop_known_hosts_content_of_another_key_is_refused(
    sshd: tuple[int, Path, Path],
    work_repo: WorkRepo,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    port, key, known_hosts = sshd
    stranger = (known_hosts.parent / "stranger.pub").read_text()
    settings = hoop_env(
        monkeypatch,
        tmp_path,
        GIT_URL=ssh_url(port, work_repo),
        GIT_SSH_KEY=key.read_text(),
        GIT_SSH_KNOWN_HOSTS=f"[127.0.0.1]:{port} {stranger}",
    )
    report = Repository(settings, tmp_path / "state").refresh()
    assert report is not None and not report.ok
    assert "host key" in (report.error or "").lower()


def test_hoop_ssh_user_defaults_to_git_and_decodes(
    sshd: tuple[int, Path, Path],
    work_repo: WorkRepo,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    port, key, known_hosts = sshd
    no_user = f"ssh://127.0.0.1:{port}{work_repo.bare}"
    env = {"GIT_URL": no_user, "GIT_SSH_KEY": key.read_text()}
    env["GIT_SSH_KNOWN_HOSTS"] = known_hosts.read_text()
    monkeypatch.delenv("GIT_SSH_USER", raising=False)
    report = Repository(hoop_env(monkeypatch, tmp_path, **env), tmp_path / "as-git").refresh()
    assert report is not None and not report.ok
    log = known_hosts.parent / "sshd.log"
    assert "Invalid user git from 127.0.0.1" in log.read_text()
    env["GIT_SSH_USER"] = b64(getpass.getuser())
    report = Repository(hoop_env(monkeypatch, tmp_path, **env), tmp_path / "as-me").refresh()
    assert report is not None and report.ok, report
