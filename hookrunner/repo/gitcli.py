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
        secret = read_secret(repo.password, repo.password_file) if repo.username else ""
        key_file = repo.ssh_key_file and str(secret_path(repo.ssh_key_file))
        if repo.ssh_key.get_secret_value():
            key_text = repo.ssh_key.get_secret_value().strip() + "\n"
            key_file = str(self._private_file("deploy_key", key_text, stat.S_IRUSR))
        if key_file or repo.known_hosts_file or repo.ssh_user:
            ssh = ["ssh", "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes"]
            if key_file:
                ssh += ["-i", key_file, "-o", "IdentitiesOnly=yes"]
            if repo.known_hosts_file:
                known_hosts = str(secret_path(repo.known_hosts_file))
                ssh += ["-o", f"UserKnownHostsFile={known_hosts}"]
            if repo.ssh_user:
                ssh += ["-o", f"User={repo.ssh_user}"]
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
                HOOKRUNNER_GIT_USERNAME=repo.username,
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
