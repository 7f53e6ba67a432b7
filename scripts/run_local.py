"""``make run``: the daemon on the bundled sample-runbooks, with a local state dir.

The first start publishes ``sample-runbooks/`` as a local git repository; later starts
keep it as it is, with the commits made to it. Each start writes a config and (once) a
token, starts a small local access API on 127.0.0.1 for the sample flows' escalate and
deescalate runbooks and local stand-ins for Slack, PagerDuty and Okta (the fakes the tests
use, from ``hookrunner_dev``) for the okta-admin flow, prints how to talk to the daemon,
then runs ``hookrunner serve``.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # hookrunner_dev: the vendor fakes, not in the wheel

from hookrunner.daemon import StartupError, serve  # noqa: E402
from hookrunner.server.auth import new_token  # noqa: E402
from hookrunner_dev.fakes.base import FakeApi  # noqa: E402
from hookrunner_dev.fakes.okta import FakeOkta  # noqa: E402
from hookrunner_dev.fakes.pagerduty import FakePagerDuty  # noqa: E402
from hookrunner_dev.fakes.slack import FakeSlack  # noqa: E402

GIT_IDENTITY = {
    "GIT_AUTHOR_NAME": "hookrunner",
    "GIT_AUTHOR_EMAIL": "hookrunner@localhost",
    "GIT_COMMITTER_NAME": "hookrunner",
    "GIT_COMMITTER_EMAIL": "hookrunner@localhost",
}


def seed_samples(target: Path) -> bool:
    """Copy sample-runbooks into a new git repo; ``False`` when one is already there."""
    if (target / ".git").is_dir():
        return False
    env = {**os.environ, **GIT_IDENTITY}
    shutil.copytree(ROOT / "sample-runbooks", target, dirs_exist_ok=True)
    for args in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-q", "-m", "samples"]):
        subprocess.run(["git", *args], cwd=target, check=True, env=env)
    return True


class AccessApi:
    """A stand-in for the access API the sample flows grant and remove roles with.

    It speaks what ``runbooklib.grant`` and ``revoke`` send: ``POST /grants`` and
    ``DELETE /grants/<request id>``, with a bearer token, and prints each change.
    """

    def __init__(self) -> None:
        self.token = secrets.token_urlsafe(24)
        self.grants: dict[str, dict[str, Any]] = {}
        api = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                if not self._authorized():
                    return
                if self.path != "/grants":
                    self._answer(404)
                    return
                length = int(self.headers.get("content-length") or 0)
                try:
                    grant = json.loads(self.rfile.read(length))
                    request_id = str(grant["request_id"])
                    minutes = int(grant["duration_s"]) // 60
                except (ValueError, KeyError, TypeError):
                    self._answer(400)
                    return
                api.grants[request_id] = grant
                api.say(f"granted {grant['role']} to {grant['user']} for {minutes} min")
                self._answer(201)

            def do_DELETE(self) -> None:
                if not self._authorized():
                    return
                if not self.path.startswith("/grants/"):
                    self._answer(404)
                    return
                grant = api.grants.pop(self.path.removeprefix("/grants/"), None)
                if grant is None:
                    api.say(f"nothing to remove for {self.path} (never granted)")
                else:
                    api.say(f"removed {grant['role']} from {grant['user']}")
                self._answer(204)  # removing what is not there is done, not an error

            def _authorized(self) -> bool:
                if self.headers.get("authorization") == f"Bearer {api.token}":
                    return True
                self._answer(401)
                return False

            def _answer(self, status: int) -> None:
                self.send_response(status)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *_args: Any) -> None:
                """Quiet: :meth:`AccessApi.say` reports what changed."""

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def say(self, text: str) -> None:
        print(f"[access API] {text}", flush=True)

    def start(self) -> None:
        threading.Thread(target=self.server.serve_forever, name="access-api", daemon=True).start()


def demo_vendors() -> dict[str, FakeApi]:
    """Slack, PagerDuty and Okta as the okta-admin sample expects them: the managers are
    in #access-approvals, oncall@example.com is on call for Ops, the Okta groups exist."""
    slack = FakeSlack(token=f"xoxb-{secrets.token_hex(12)}")
    people = ("alice.manager", "bob.manager", "oncall", "dev")
    for n, name in enumerate(people, 1):
        slack.add_user(f"U0{n}", f"{name}@example.com", name)
    slack.add_channel("C01", "access-approvals", ["U01", "U02"])
    pagerduty = FakePagerDuty(token=secrets.token_hex(10))
    pagerduty.add_user("PU1", "oncall@example.com", "On Call")
    pagerduty.policies = [{"id": "PEP1", "name": "Ops"}]
    pagerduty.add_oncall("PU1", "PEP1")
    okta = FakeOkta(token=secrets.token_hex(20))
    for n, name in enumerate(people, 1):
        okta.add_user(f"00u{n}", f"{name}@example.com")
    okta.add_group("00g1awsadmins", "AWS administrators")
    okta.add_group("00g2dbadmins", "Database administrators")
    return {"slack": slack, "pagerduty": pagerduty, "okta": okta}


def integrations_config(state: Path, vendors: dict[str, FakeApi]) -> str:
    tables = []
    for kind, fake in vendors.items():
        write_private(state / f"{kind}-token", fake.token + "\n")
        tables.append(
            f'[integrations.{kind}]\ntype = "{kind}"\napi_url = {json.dumps(fake.url)}\n'
            f"token_file = {json.dumps(str(state / f'{kind}-token'))}\n"
        )
    return "\n".join(tables)


def write_private(path: Path, text: str) -> None:
    path.write_text(text)
    path.chmod(0o600)


def ensure_secrets(state: Path) -> None:
    """A token for all scopes and a git webhook secret, kept across restarts."""
    token_file, tokens_file = state / "token", state / "tokens.toml"
    if not (token_file.is_file() and tokens_file.is_file()):
        token, entry = new_token("make-run", ["events", "read", "admin", "flows"])
        write_private(tokens_file, entry)
        write_private(token_file, token + "\n")
    if not (state / "git_webhook_secret").is_file():
        write_private(state / "git_webhook_secret", secrets.token_urlsafe(24))


def write_config(
    state: Path, runbooks: Path, listen: str, access: AccessApi, vendors: dict[str, FakeApi]
) -> Path:
    config = state / "hookrunner.toml"
    env = {"ACCESS_API_URL": access.url, "ACCESS_API_TOKEN": access.token}
    config.write_text(
        "# Written by scripts/run_local.py at each start (make run); edits are overwritten.\n"
        f"[repo]\nurl = {json.dumps(str(runbooks))}\nttl = 5\n\n"
        f"[executor]\nenv = {{ {', '.join(f'{k} = {json.dumps(v)}' for k, v in env.items())} }}\n\n"
        f"[server]\nlisten = {json.dumps(listen)}\n"
        f"tokens_file = {json.dumps(str(state / 'tokens.toml'))}\n\n"
        f"[webhooks]\ngit_secret_file = {json.dumps(str(state / 'git_webhook_secret'))}\n\n"
        f'[state]\ndir = {json.dumps(str(state / "daemon"))}\n\n[log]\nformat = "console"\n\n'
        + integrations_config(state, vendors)
    )
    config.chmod(0o600)
    (state / "url").write_text(f"http://{listen}\n")  # for curl lines in the docs
    return config


def banner(state: Path, runbooks: Path, config: Path, listen: str, seeded: bool) -> str:
    kept = "" if seeded else " (kept from the last run: delete it to start over)"
    return f"""
hookrunner is starting on http://{listen}.
  runbooks: {runbooks}{kept}
            edit and commit there; the daemon syncs within 5 s
  config:   {config}
  access API for the sample flows: started on 127.0.0.1 (lines tagged [access API])
  Slack, PagerDuty and Okta for flows/okta-admin: local stand-ins on 127.0.0.1

In another terminal, from this directory (the README walks through a whole flow):
  export HOOKRUNNER_CONFIG={config}
  export HOOKRUNNER_TOKEN=$(cat {state}/token)
  .venv/bin/hookrunner status
  .venv/bin/hookrunner send session-open --sid demo-1 --user-email you@example.com \\
      --connection pg-demo --wait
"""


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--state", default=".state")
    parser.add_argument("--listen", default="127.0.0.1:8080")
    args = parser.parse_args()
    state = Path(args.state).resolve()
    state.mkdir(parents=True, exist_ok=True, mode=0o700)
    runbooks = state / "runbooks"
    seeded = seed_samples(runbooks)
    ensure_secrets(state)
    access = AccessApi()
    vendors = demo_vendors()
    config = write_config(state, runbooks, args.listen, access, vendors)
    print(banner(state, runbooks, config, args.listen, seeded), flush=True)
    access.start()
    for fake in vendors.values():
        fake.start()
    try:
        sys.exit(serve(str(config)))
    except StartupError as exc:
        sys.exit(f"hookrunner: {exc}")


if __name__ == "__main__":
    main()
