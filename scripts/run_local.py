"""``make run``: the daemon on the bundled sample-runbooks, with a local state dir.

Publishes ``sample-runbooks/`` as a local git repository, writes a config and a fresh
token, prints how to send an event, then becomes ``hookrunner serve``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from pathlib import Path

from hookrunner.server.auth import new_token

ROOT = Path(__file__).resolve().parents[1]
GIT_IDENTITY = {
    "GIT_AUTHOR_NAME": "hookrunner",
    "GIT_AUTHOR_EMAIL": "hookrunner@localhost",
    "GIT_COMMITTER_NAME": "hookrunner",
    "GIT_COMMITTER_EMAIL": "hookrunner@localhost",
}


def publish_samples(target: Path) -> None:
    """Mirror sample-runbooks into a git repo and commit whatever changed."""
    env = {**os.environ, **GIT_IDENTITY}
    if not (target / ".git").is_dir():
        target.mkdir(parents=True, exist_ok=True)
        subprocess.run(["git", "init", "-q", "-b", "main", str(target)], check=True, env=env)
    for entry in target.iterdir():
        if entry.name != ".git":
            shutil.rmtree(entry) if entry.is_dir() else entry.unlink()
    shutil.copytree(ROOT / "sample-runbooks", target, dirs_exist_ok=True)
    subprocess.run(["git", "add", "-A"], cwd=target, check=True, env=env)
    staged = subprocess.run(["git", "diff", "--cached", "--quiet"], cwd=target, env=env)
    if staged.returncode != 0 or not (target / ".git/refs/heads/main").exists():
        subprocess.run(
            ["git", "commit", "-q", "--allow-empty", "-m", "sample-runbooks"],
            cwd=target, check=True, env=env,
        )  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--state", default=".state")
    parser.add_argument("--listen", default="127.0.0.1:8080")
    args = parser.parse_args()
    state = Path(args.state).resolve()
    state.mkdir(parents=True, exist_ok=True, mode=0o700)
    runbooks = state / "runbooks"
    publish_samples(runbooks)

    token, entry = new_token("make-run", ["events", "read", "admin", "flows"])
    tokens_file = state / "tokens.toml"
    tokens_file.write_text(entry)
    tokens_file.chmod(0o600)
    config = state / "hookrunner.toml"
    config.write_text(
        f'[repo]\nurl = "{runbooks}"\nttl = 5\n\n'
        f'[server]\nlisten = "{args.listen}"\ntokens_file = "{tokens_file}"\n\n'
        f'[state]\ndir = "{state / "daemon"}"\n\n[log]\nformat = "console"\n'
    )
    (state / "token").write_text(token + "\n")
    (state / "token").chmod(0o600)
    host = args.listen
    print(
        f"""
hookrunner is starting on http://{host} with {runbooks} (edit, commit, it syncs in 5 s).

Send it an event:
  HOOKRUNNER_TOKEN=$(cat {state}/token) .venv/bin/hookrunner send session-open \\
      --config {config} --sid demo-1 --user-email you@example.com --wait

or with curl:
  curl -sS -X POST 'http://{host}/v1/events/session-open?wait=true' \\
      -H "Authorization: Bearer $(cat {state}/token)" -H 'Content-Type: application/json' \\
      -d '{{"sid": "demo-1", "connection_name": "pg-demo", "user_email": "you@example.com"}}'
""",
        flush=True,
    )
    hookrunner = Path(sys.executable).with_name("hookrunner")
    os.execv(hookrunner, [str(hookrunner), "serve", "--config", str(config)])  # noqa: S606


if __name__ == "__main__":
    main()
