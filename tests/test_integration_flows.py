"""Flows that call Slack, PagerDuty, Okta and AWS Lambda, end to end through a real daemon.

The vendors are the local fakes of hookrunner_dev/fakes, each with a token made for this run, so
a token found anywhere a hook can look was leaked by hookrunner, not read from a test
file. Hooks run in the bubblewrap sandbox, which is where they reach the channel's
socket through a bind mount.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

import httpx
import pytest
from conftest import WorkRepo
from daemon_harness import RunningDaemon, _toml, wait_for_run
from test_cli import run
from test_flows import decide, open_request, wait_for_state

from hookrunner.dryrun import DRY_RUN_REQUESTER
from hookrunner_dev.fakes.aws_lambda import ACCESS_KEY_ID, SECRET_ACCESS_KEY, FakeLambda
from hookrunner_dev.fakes.okta import FakeOkta
from hookrunner_dev.fakes.pagerduty import FakePagerDuty
from hookrunner_dev.fakes.slack import FakeSlack

SAMPLES = Path(__file__).resolve().parents[1] / "sample-runbooks"
SAMPLE_FLOW = "okta-admin"
ADMINS_GROUP = "00g1awsadmins"
LAMBDA = "grant-access"

# after_request looks for the vendors' tokens in its environment, every process's
# environment and command line it can see, and every file it can read under the test's
# base directory (the daemon's state, config, secret files and log), its snapshot, its
# private files and the shared places a secret could be left. It gets the tokens masked
# (so its environment does not hold them), and one planted file it must find (so the
# search itself is proven).
DUMP_IMPL = """
import json
import os
import stat

from sym.sdk.annotations import hook
from sym.sdk.errors import SymIntegrationError
from sym.sdk.integrations import _call, slack
from sym.sdk.secret import Secret

# Besides the run's own directories and the test's base (state, config, secrets, log):
# where a process could leave a secret for another to find (not the OS's own trees).
ROOTS = ["/tmp", "/var/tmp", "/run", "/etc", "/home", "/dev/shm"]


def needles(event):
    mask = bytes.fromhex(event.flow.vars["mask"])
    return [bytes(a ^ b for a, b in zip(bytes.fromhex(m), mask)) for m in event.flow.vars["masked"]]


def paths(extra):
    seen = set()
    for root in ROOTS + extra:
        for top, _dirs, names in os.walk(root):
            for name in names:
                path = os.path.join(top, name)
                if path not in seen:
                    seen.add(path)
                    yield path
    for pid in os.listdir("/proc"):
        if pid.isdigit() or pid == "self":
            for leaf in ("environ", "cmdline"):
                yield f"/proc/{pid}/{leaf}"


def content(path):
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW)
    except OSError:
        return None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        return os.read(fd, 8 << 20)
    except OSError:
        return None
    finally:
        os.close(fd)


@hook
def after_request(event):
    tokens = needles(event)
    environ = "\\0".join(f"{k}={v}" for k, v in os.environ.items()).encode()
    report = {"env": [i for i, t in enumerate(tokens) if t in environ], "files": [], "read": 0}
    private = os.path.dirname(os.environ["HOOKRUNNER_FLOW_RESULT"])
    base = event.flow.vars["base"]
    for path in paths([os.getcwd(), private, base, os.path.join(base, "control")]):
        data = content(path)
        if data is None:
            continue
        report["read"] += 1
        hits = [i for i, t in enumerate(tokens) if t in data]
        if hits:
            report["files"].append([path, hits])
    report["members"] = sorted(u.email for u in slack.users_in_channel("#access-approvals"))
    report["channel_env"] = sorted(k for k in os.environ if k.startswith("HOOKRUNNER_INTEGR"))
    client = _call._channel_client()
    unlisted = {"unlisted": ("pagerduty", "is_on_call", {"user": "dev@acme.io"}),
                "unlisted_secret": ("circleci", "retrieve_secret", {"name": "api_token_secret"})}
    for key, (integration, function, args) in unlisted.items():
        try:
            client.call(integration, function, args)
            report[key] = "answered"
        except client.ChannelError as exc:
            report[key] = exc.message
    try:
        Secret.of_integration("circleci", "api_token_secret").retrieve_value()
        report["unlisted_sdk"] = "answered"
    except SymIntegrationError as exc:
        report["unlisted_sdk"] = str(exc)
    print(json.dumps(report))
"""

LAMBDA_TOML = f"""
integrations = ["aws_lambda"]
strategy = "aws_lambda"

[[targets]]
name = "reports"
label = "Reports bucket"
type = "aws_lambda_function"
settings = {{ arn = "{LAMBDA}", bucket = "reports" }}
"""

# A flow that reads its custom integration's secret; it shows only the value's digest,
# the document it was given, and what a secret whose file is missing raises.
CIRCLE_IMPL = """
import hashlib
import json
import os

from sym.sdk.annotations import hook
from sym.sdk.errors import SymIntegrationError


@hook
def after_request(event):
    circleci = event.flow.environment.integrations["circleci"]
    secret = circleci.settings["api_token_secret"]
    value = secret.retrieve_value()
    try:
        circleci.settings["gone"].retrieve_value()
        gone = "answered"
    except SymIntegrationError as exc:
        gone = str(exc)
    print(json.dumps({
        "sha256": hashlib.sha256(value.encode()).hexdigest(),
        "org": circleci.settings["org"],
        "kind": type(secret).__name__,
        "gone": gone,
        "document": json.loads(os.environ["HOOKRUNNER_FLOW_EVENT"]),
    }))
"""

APPROVERS_IMPL = """
from sym.sdk.annotations import reducer
from sym.sdk.integrations import slack


@reducer
def get_approvers(event):
    return DESTINATION
"""

ERRORS_IMPL = """
from sym.sdk.annotations import hook
from sym.sdk.exceptions import SlackError
from sym.sdk.integrations import slack
from sym.sdk.templates import ApprovalTemplate


@hook
def on_request(event):
    try:
        slack.users_in_channel("#nowhere")
    except SlackError as exc:
        return ApprovalTemplate.ignore(message=f"{type(exc).__name__} {exc.error_code}")
"""

SESSION_HOOK = """
import json, os
print(json.dumps(sorted(k for k in os.environ if k.startswith("HOOKRUNNER_INTEGR"))))
"""


class Vendors(NamedTuple):
    slack: FakeSlack
    pagerduty: FakePagerDuty
    okta: FakeOkta
    aws: FakeLambda


def vendors() -> Vendors:
    slack = FakeSlack(token=f"xoxb-{secrets.token_hex(16)}")
    for user_id, email in (("U01", "dev"), ("U02", "boss"), ("U03", "lead"), ("U04", "eng")):
        slack.add_user(user_id, f"{email}@acme.io", email)
    slack.add_user("U05", "mallory@acme.io", "mallory")
    slack.add_channel("C01", "access-approvals", ["U02", "U03", "U04"])
    pagerduty = FakePagerDuty(token=f"u+{secrets.token_hex(10)}")
    pagerduty.add_user("PU1", "dev@acme.io", "Dev")
    pagerduty.add_user("PU2", "eng@acme.io", "Eng")
    pagerduty.policies = [{"id": "PEP1", "name": "Ops"}, {"id": "PEP2", "name": "Ops Backup"}]
    pagerduty.add_oncall("PU1", "PEP1")
    pagerduty.add_oncall("PU2", "PEP2")
    okta = FakeOkta(token=f"00{secrets.token_hex(20)}")
    okta.add_user("00u1", "dev@acme.io")
    okta.add_user("00u2", "eng@acme.io")
    okta.add_group(ADMINS_GROUP, "AWS admins")
    okta.add_group("00g2dbadmins", "DB admins")
    aws = FakeLambda()
    aws.invocations: list[Any] = []  # type: ignore[misc]

    def grant(event: Any) -> Any:
        aws.invocations.append(event)  # type: ignore[attr-defined]
        return {"body": {"granted": event["event"]["type"]}, "errors": []}

    aws.functions[LAMBDA] = grant
    for fake in (slack, pagerduty, okta, aws):
        fake.start()
    return Vendors(slack, pagerduty, okta, aws)


def tokens(found: Vendors) -> list[str]:
    return [found.slack.token, found.pagerduty.token, found.okta.token, SECRET_ACCESS_KEY]


class Setup(NamedTuple):
    daemon: RunningDaemon
    vendors: Vendors
    base: Path
    circle_token: str  # the custom integration's secret, in a file only the daemon reads


# Hooks in the sandbox as the daemon's own user, and as the packaged separate account.
EXECUTORS = {
    "shared-user": {"interpreter": sys.executable, "user": ""},
    "hook-account": {"interpreter": "/usr/bin/python3", "user": "nobody"},
}


@pytest.fixture(scope="module", params=sorted(EXECUTORS))
def setup(request: pytest.FixtureRequest) -> Iterator[Setup]:
    if os.geteuid() != 0 or shutil.which("bwrap") is None:
        pytest.skip("the token hunt needs the bubblewrap sandbox (root and bwrap)")
    # Short (the channel's socket path must fit a sockaddr_un), and outside /tmp, which
    # the sandbox replaces: the hook sees this tree as it is, less what hookrunner hides.
    base = Path(tempfile.mkdtemp(prefix="hr-int-", dir="/var/tmp"))
    base.chmod(0o711)
    found = vendors()
    secret_dir = base / "secrets"
    # Passable, each file private: bubblewrap, run as the hook account, must reach a
    # secret file to mount over it (it fails on one inside a directory it cannot enter).
    secret_dir.mkdir()
    secret_dir.chmod(0o711)
    integrations: dict[str, dict[str, Any]] = {}
    for kind, fake in (("slack", found.slack), ("pagerduty", found.pagerduty),
                       ("okta", found.okta)):  # fmt: skip
        (secret_dir / kind).write_text(fake.token + "\n")
        (secret_dir / kind).chmod(0o600)
        integrations[kind] = {"type": kind, "token_file": str(secret_dir / kind),
                              "api_url": fake.url}  # fmt: skip
    integrations["aws_lambda"] = {"type": "aws_lambda", "region": "eu-west-1",
                                  "api_url": found.aws.url.rstrip("/")}  # fmt: skip
    circle_token = f"circle-{secrets.token_hex(16)}"
    (secret_dir / "circleci").write_text(circle_token + "\n")
    (secret_dir / "circleci").chmod(0o600)
    integrations["circleci"] = {
        "type": "custom",
        "settings": {"org": "acme"},
        "secrets": {"api_token_secret": str(secret_dir / "circleci"),
                    "gone": str(secret_dir / "circleci-missing")},
    }  # fmt: skip
    mask = secrets.token_bytes(64)
    masked = [
        bytes(a ^ b for a, b in zip(t.encode(), mask, strict=False)).hex()
        for t in [*tokens(found), circle_token]
    ]
    control = base / "control"
    control.mkdir()
    (control / "planted").write_text(found.slack.token)
    dump_toml = (
        f'integrations = ["slack"]\n\n[vars]\nmask = "{mask.hex()}"\nbase = "{base}"\n'
        f"masked = {json.dumps(masked)}\n"
    )
    repo = WorkRepo(base / "git")
    shutil.copytree(SAMPLES / "flows" / SAMPLE_FLOW, repo.work / "flows" / SAMPLE_FLOW)
    repo.commit(
        {
            "flows/dump/impl.py": DUMP_IMPL,
            "flows/dump/flow.toml": dump_toml,
            "flows/lambda/impl.py": "from sym.sdk.annotations import hook\n",
            "flows/lambda/flow.toml": LAMBDA_TOML,
            "hoop-hooks/session-open.runbook.py": SESSION_HOOK,
            "flows/nowhere/impl.py": APPROVERS_IMPL.replace(
                "DESTINATION", 'slack.channel("#nowhere")'
            ),
            "flows/nowhere/flow.toml": 'integrations = ["slack"]\n',
            "flows/fallback/impl.py": APPROVERS_IMPL.replace(
                "DESTINATION",
                'slack.fallback(slack.channel("#nowhere"), slack.channel("#access-approvals"))',
            ),
            "flows/fallback/flow.toml": 'integrations = ["slack"]\n',
            "flows/errors/impl.py": ERRORS_IMPL,
            "flows/errors/flow.toml": 'integrations = ["slack"]\n',
            "flows/circle/impl.py": CIRCLE_IMPL,
            "flows/circle/flow.toml": 'integrations = ["circleci"]\n',
        }
    )
    daemon = RunningDaemon(
        base,
        str(repo.bare),
        executor={
            **EXECUTORS[request.param],
            "timeout": 60,
            "sandbox": "bwrap",
            "max_output_bytes": 1 << 20,
        },
        integrations=integrations,
    )
    daemon.start(env={"AWS_ACCESS_KEY_ID": ACCESS_KEY_ID,
                      "AWS_SECRET_ACCESS_KEY": SECRET_ACCESS_KEY})  # fmt: skip
    yield Setup(daemon, found, base, circle_token)
    daemon.stop()
    for fake in found:
        fake.stop()
    shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def client(setup: Setup) -> Iterator[httpx.Client]:
    with setup.daemon.client("flows-token") as flows:
        yield flows


def okta_members(setup: Setup) -> list[str]:
    return okta_groups(setup.vendors)


def runs_of(setup: Setup, hook: str) -> list[dict[str, Any]]:
    with setup.daemon.client("read-token") as reader:
        runs = reader.get("/v1/runs", params={"limit": 1000}).json()["runs"]
    return [run for run in runs if run["hook"] == hook]


def test_on_call_engineer_is_approved_at_once_and_okta_grants_then_removes(
    setup: Setup, client: httpx.Client
) -> None:
    opened = open_request(
        client, SAMPLE_FLOW, "dev@acme.io", fields={"reason": "INC-7", "target": "aws-admins"}
    )
    assert opened["state"] == "escalated", opened
    assert [e["event"] for e in opened["history"]] == ["request", "notify", "approve", "escalate"]
    assert okta_members(setup) == ["00u1"]
    oncalls = setup.vendors.pagerduty.calls("/oncalls")
    assert oncalls and oncalls[-1].args("escalation_policy_ids[]") == ["PEP1"]
    revoked = decide(client, opened["id"], "revoke", "dev@acme.io")
    assert revoked.status_code == 200, revoked.text
    assert revoked.json()["state"] == "revoked"
    assert okta_members(setup) == []
    steps = [run["status"] for run in runs_of(setup, f"{SAMPLE_FLOW}/okta:escalate")]
    assert steps == ["succeeded"]


def test_someone_not_on_call_waits_for_a_member_of_the_slack_channel(
    setup: Setup, client: httpx.Client
) -> None:
    opened = open_request(
        client, SAMPLE_FLOW, "eng@acme.io", fields={"reason": "deploy", "target": "aws-admins"}
    )
    assert opened["state"] == "pending"
    for outsider in ("mallory@acme.io", "dev@acme.io", "eng@acme.io"):  # eng: allow_self off
        refused = decide(client, opened["id"], "approve", outsider)
        assert refused.status_code == 403, refused.text
        assert "is not an approver" in refused.json()["detail"]
    assert okta_members(setup) == []
    approved = decide(client, opened["id"], "approve", "LEAD@acme.io")
    assert approved.status_code == 200, approved.text
    assert wait_for_state(client, opened["id"], "escalated")["state"] == "escalated"
    assert okta_members(setup) == ["00u2"]
    assert decide(client, opened["id"], "revoke", "lead@acme.io").json()["state"] == "revoked"
    assert okta_members(setup) == []


def test_an_okta_failure_grants_nothing_and_says_why(setup: Setup, client: httpx.Client) -> None:
    opened = open_request(
        client, SAMPLE_FLOW, "boss@acme.io", fields={"reason": "x", "target": "db-admins"}
    )
    approved = decide(client, opened["id"], "approve", "lead@acme.io")
    assert approved.status_code == 200, approved.text
    request = approved.json()
    assert request["state"] == "approved"  # boss has no Okta account: nothing granted
    assert "okta strategy's escalate failed" in request["error"]
    assert "Not found" in request["error"]
    assert setup.vendors.okta.members["00g2dbadmins"] == []
    failed = runs_of(setup, f"{SAMPLE_FLOW}/okta:escalate")
    assert any(run["status"] == "failed" and "Not found" in run["stderr"] for run in failed)


def test_an_unresolvable_destination_lets_nobody_approve_and_a_fallback_moves_on(
    client: httpx.Client,
) -> None:
    nowhere = open_request(client, "nowhere", "eng@acme.io")
    refused = decide(client, nowhere["id"], "approve", "boss@acme.io")
    assert refused.status_code == 403, refused.text
    assert "cannot be resolved" in refused.json()["detail"]
    assert "no channel #nowhere" in refused.json()["detail"]
    fallback = open_request(client, "fallback", "eng@acme.io")
    assert decide(client, fallback["id"], "approve", "mallory@acme.io").status_code == 403
    approved = decide(client, fallback["id"], "approve", "lead@acme.io")
    assert approved.status_code == 200, approved.text


def test_a_vendor_failure_is_raised_as_the_sdk_exception(client: httpx.Client) -> None:
    refused = client.post("/v1/flows/errors/requests", json={"user": {"email": "dev@acme.io"}})
    assert refused.status_code == 403, refused.text
    assert refused.json()["detail"] == "SlackError Slack:CHANNEL_NOT_FOUND"


def test_the_aws_lambda_strategy_invokes_the_target_function(
    setup: Setup, client: httpx.Client
) -> None:
    opened = open_request(client, "lambda", "dev@acme.io", fields={"target": "reports"})
    approved = decide(client, opened["id"], "approve", "boss@acme.io")
    assert approved.status_code == 200, approved.text
    wait_for_state(client, opened["id"], "escalated")
    assert decide(client, opened["id"], "revoke", "dev@acme.io").json()["state"] == "revoked"
    invocations = setup.vendors.aws.invocations  # type: ignore[attr-defined]
    assert [i["event"]["type"] for i in invocations] == ["escalate", "deescalate"]
    first = invocations[0]
    assert first["user"]["email"] == "dev@acme.io"
    assert first["fields"]["target"]["settings"] == {"arn": LAMBDA, "bucket": "reports"}
    assert first["run"]["actors"]["approve"]["email"] == "boss@acme.io"


def test_a_hook_finds_no_token_anywhere_it_can_look(setup: Setup, client: httpx.Client) -> None:
    opened = open_request(client, "dump", "dev@acme.io")
    run = next(iter(runs_of(setup, "dump/after_request")), None)
    assert run is not None and run["status"] == "succeeded", (opened, run)
    report = json.loads(run["stdout"].strip().splitlines()[-1])
    planted = str(setup.base / "control" / "planted")
    assert report["files"] == [[planted, [0]]]  # only the planted one: the search works
    assert report["env"] == []
    assert report["read"] > 50
    assert report["members"] == ["boss@acme.io", "eng@acme.io", "lead@acme.io"]
    assert report["channel_env"] == [
        "HOOKRUNNER_INTEGRATIONS_SOCKET",
        "HOOKRUNNER_INTEGRATIONS_TOKEN",
    ]
    assert "not among this flow's integrations" in report["unlisted"]
    assert "not among this flow's integrations" in report["unlisted_secret"]
    assert "integration 'circleci' is not configured" in report["unlisted_sdk"]
    log = (setup.daemon.dir / "daemon.log").read_text()
    assert not [token for token in [*tokens(setup.vendors), setup.circle_token] if token in log]


def test_a_flow_reads_its_custom_integrations_secret_and_only_by_name(
    setup: Setup, client: httpx.Client
) -> None:
    opened = open_request(client, "circle", "dev@acme.io")
    run = next(iter(runs_of(setup, "circle/after_request")), None)
    assert run is not None and run["status"] == "succeeded", (opened, run)
    report = json.loads(run["stdout"].strip().splitlines()[-1])
    assert report["sha256"] == hashlib.sha256(setup.circle_token.encode()).hexdigest()
    assert (report["org"], report["kind"]) == ("acme", "Secret")
    assert "secrets.gone cannot be read" in report["gone"]
    assert report["document"]["flow"]["environment"]["integrations"] == {
        "circleci": {
            "type": "custom",
            "external_id": "",
            "settings": {"org": "acme"},
            "secrets": ["api_token_secret", "gone"],
        }
    }
    secret_dir = str(setup.base / "secrets")
    with setup.daemon.client("read-token") as reader:
        runs = reader.get("/v1/runs", params={"limit": 1000}).json()["runs"]
    circle_runs = [run for run in runs if run["hook"].startswith("circle/")]
    assert circle_runs
    request = client.get(f"/v1/requests/{opened['id']}").json()
    records = json.dumps([circle_runs, request, report])
    assert setup.circle_token not in records
    assert secret_dir not in records


def test_session_hooks_get_no_channel(setup: Setup) -> None:
    with setup.daemon.client("events-token") as events, setup.daemon.client("read-token") as r:
        answer = events.post("/v1/events/session-open", json={"sid": "s1", "connection_name": "pg"})
        assert answer.status_code == 202, answer.text
        run = wait_for_run(r, answer.json()["run_ids"][0], timeout=60)
    assert run["status"] == "succeeded", run
    assert json.loads(run["stdout"].strip()) == []


def test_dry_run_makes_the_same_calls_in_process(tmp_path: Path) -> None:
    found = vendors()
    found.okta.add_user("00u9", DRY_RUN_REQUESTER)
    try:
        tables = {}
        for kind, fake in (("slack", found.slack), ("pagerduty", found.pagerduty),
                           ("okta", found.okta)):  # fmt: skip
            (tmp_path / kind).write_text(fake.token)
            tables[f"integrations.{kind}"] = {"type": kind, "token_file": str(tmp_path / kind),
                                              "api_url": fake.url}  # fmt: skip
        config = tmp_path / "hookrunner.toml"
        config.write_text(_toml({"executor": {"interpreter": sys.executable}, **tables}))

        def dry_run(*args: str) -> dict[str, Any]:
            result = run("dry-run", "flow", SAMPLE_FLOW, *args, "--repo", str(SAMPLES),
                         "--config", str(config), "--json")  # fmt: skip
            assert result.returncode in (0, 1), result.stderr
            answer: dict[str, Any] = json.loads(result.stdout)
            return answer

        fields = ("--field", "reason=INC-9", "--field", "target=aws-admins")
        on_call = dry_run("request", "--user", "dev@acme.io", *fields)
        assert on_call["request"]["state"] == "escalated"
        assert okta_groups(found) == []  # a dry-run of a request grants nothing
        waiting = dry_run("request", "--user", "eng@acme.io", *fields)
        assert waiting["request"]["state"] == "pending"
        outsider = dry_run("approve", "--user", "mallory@acme.io", *fields)
        assert "is not an approver" in outsider["refusal"]
        assert dry_run("escalate", *fields)["request"]["state"] == "escalated"
        assert okta_groups(found) == ["00u9"]  # escalate itself is run for real
        assert dry_run("deescalate", *fields)["request"]["state"] == "deescalated"
        assert okta_groups(found) == []
    finally:
        for fake in found:
            fake.stop()


def okta_groups(found: Vendors) -> list[str]:
    return list(found.okta.members[ADMINS_GROUP])
