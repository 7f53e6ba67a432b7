"""Run the git CLI through GitPython's command wrapper, with auth and never a prompt.

No ``Repo`` object outlives a call: each command is a fresh ``git.Git`` invocation, as
GitPython advises for long-running processes.
"""

from __future__ import annotations

import shlex
import stat
import threading
from pathlib import Path
from typing import IO
from urllib.parse import urlsplit

import git

from hookrunner.config import RepoSettings, RepoSource, read_secret, repo_settings, secret_path
from hookrunner.logs import redact_url

# Answers git's and ssh's prompts from variables given to that git process only.
_ASKPASS_SCRIPT = """#!/bin/sh
case "$1" in
  Username*) printf '%s\\n' "$HOOKRUNNER_GIT_USERNAME" ;;
  *) printf '%s\\n' "$HOOKRUNNER_GIT_SECRET" ;;
esac
"""


HTTPS_DEFAULT_USER = "oauth2"
SSH_DEFAULT_USER = "git"


def default_ssh_user(url: str) -> str:
    """hoop's ``git`` for an ssh URL that names no user (ssh would try the local account)."""
    if "://" in url:
        parts = urlsplit(url)
        is_ssh = parts.scheme in ("ssh", "git+ssh", "ssh+git")
        names_user = "@" in parts.netloc
    else:  # git's scp-like syntax: [user@]host:path, with no slash before the colon
        host, colon, _path = url.partition(":")
        is_ssh = bool(colon) and "/" not in host
        names_user = "@" in host
    return SSH_DEFAULT_USER if is_ssh and not names_user else ""


class GitError(Exception):
    """A git command failed; the message has credentials removed."""


class GitCli:
    """Builds the environment for every git call and counts the calls."""

    def __init__(self, settings: RepoSource, private_dir: Path) -> None:
        self._settings = settings
        self.private_dir = private_dir
        self.invocations = 0
        self._count_lock = threading.Lock()

    @property
    def settings(self) -> RepoSettings:
        return repo_settings(self._settings)

    def _private_file(self, name: str, content: str, mode: int) -> Path:
        self.private_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        path = self.private_dir / name
        if not path.exists() or path.read_text() != content:
            tmp = path.with_suffix(".tmp")
            tmp.write_text(content)
            tmp.chmod(mode)
            tmp.replace(path)
        return path

    def environment(self) -> dict[str, str]:
        repo = self.settings
        env = {
            "GIT_TERMINAL_PROMPT": "0",
            "GIT_ASKPASS": "",
            "SSH_ASKPASS": "",
            "GIT_CONFIG_NOSYSTEM": "1",
            "LC_ALL": "C",
        }
        secret = read_secret(repo.password, repo.password_file)
        # As in hoop: a password or token without a user name authenticates as oauth2.
        username = repo.username or (HTTPS_DEFAULT_USER if secret else "")
        key_file = repo.ssh_key_file and str(secret_path(repo.ssh_key_file))
        if repo.ssh_key.get_secret_value():
            key_text = repo.ssh_key.get_secret_value().strip() + "\n"
            key_file = str(self._private_file("deploy_key", key_text, stat.S_IRUSR))
        known_hosts = repo.known_hosts_file and str(secret_path(repo.known_hosts_file))
        if repo.known_hosts:  # the content, as hoop's GIT_SSH_KNOWN_HOSTS carries it
            known_hosts_text = repo.known_hosts.strip() + "\n"
            known_hosts = str(
                self._private_file("known_hosts", known_hosts_text, stat.S_IRUSR | stat.S_IWUSR)
            )
        ssh_user = repo.ssh_user or default_ssh_user(repo.url)
        if key_file or known_hosts or ssh_user:
            ssh = ["ssh", "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes"]
            if key_file:
                ssh += ["-i", key_file, "-o", "IdentitiesOnly=yes"]
            if known_hosts:
                ssh += ["-o", f"UserKnownHostsFile={known_hosts}"]
            if ssh_user:
                ssh += ["-o", f"User={ssh_user}"]
            passphrase = repo.ssh_key_passphrase.get_secret_value()
            if passphrase:
                ssh[2] = "BatchMode=no"
                env["SSH_ASKPASS_REQUIRE"] = "force"
                env["DISPLAY"] = env.get("DISPLAY", ":0")
                secret = passphrase
            env["GIT_SSH_COMMAND"] = shlex.join(ssh)
        if secret:
            askpass = str(self._private_file("askpass.sh", _ASKPASS_SCRIPT, stat.S_IRWXU))
            env.update(
                GIT_ASKPASS=askpass,
                SSH_ASKPASS=askpass,
                HOOKRUNNER_GIT_USERNAME=username,
                HOOKRUNNER_GIT_SECRET=secret,
            )
        return env

    def run(self, *args: str, cwd: Path | None = None, output: IO[bytes] | None = None) -> str:
        """Run ``git args...``; raise :class:`GitError` with a redacted message."""
        with self._count_lock:
            self.invocations += 1
        try:
            result = git.Git(str(cwd) if cwd else None).execute(
                ["git", *args],
                env=self.environment(),
                kill_after_timeout=self.settings.fetch_timeout,
                output_stream=output,
                stdout_as_string=True,
            )
        except git.GitCommandError as exc:
            stderr = exc.stderr.strip() if isinstance(exc.stderr, str) else str(exc.stderr)
            raise GitError(redact_url(f"git {args[0]}: {stderr or exc}")) from None
        except (OSError, ValueError) as exc:
            raise GitError(redact_url(f"git {args[0]}: {exc}")) from None
        return result if isinstance(result, str) else ""
