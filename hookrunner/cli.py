"""Command line: thin click commands that parse, call the library and print.

Exit codes: 0 ok, 1 the hook failed, 2 usage or validation error, 3 daemon unreachable.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import textwrap
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from hookrunner import __version__, render
from hookrunner.config import ConfigError, Settings, config_path_from, load_settings
from hookrunner.execution import RunResult
from hookrunner.flows.sym._names import HOOK_EVENTS
from hookrunner.journal.records import REQUEST_STATES, RUN_STATES
from hookrunner.logs import configure_logging
from hookrunner.payloads import (
    SESSION_KINDS,
    PayloadError,
    SessionEvent,
    SessionKind,
    event_id,
    parse_session_event,
)
from hookrunner.server.auth import SCOPES

if TYPE_CHECKING:
    from hookrunner.dryrun import FlowPreview
    from hookrunner.execution import RunResult

EXIT_OK, EXIT_HOOK_FAILED, EXIT_USAGE, EXIT_UNREACHABLE = 0, 1, 2, 3
F = TypeVar("F", bound=Callable[..., Any])


def fail(message: str, code: int = EXIT_USAGE) -> None:
    """One line naming what is wrong (a git error's lines joined), then exit."""
    click.echo(f"hookrunner: {' '.join(message.split())}", err=True)
    sys.exit(code)


def config_option(function: F) -> F:
    return click.option(
        "--config",
        "config_file",
        type=click.Path(dir_okay=False),
        help="TOML config file (default: $HOOKRUNNER_CONFIG or /etc/hookrunner/hookrunner.toml).",
    )(function)


# What running a hook needs from the config; never the server's tokens or secrets.
HOOK_SECTIONS = ("executor", "repo", "environments", "integrations", "roles")


def settings_from(config_file: str | None, only: tuple[str, ...] | None = None) -> Settings:
    try:
        return load_settings(config_file, only=only)
    except ConfigError as exc:
        fail(f"config: {exc}")
        raise AssertionError from exc  # unreachable: fail() exits


class OneLineErrors(click.Group):
    """A file the system refuses (a missing --payload, an unreadable key) is one line too."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except OSError as exc:
            fail(str(exc))


@click.group(cls=OneLineErrors)
@click.version_option(__version__, prog_name="hookrunner")
def main() -> None:
    """Run hoop session hooks and approval-flow hooks from a runbooks git repository."""


def _session_body(
    kind: SessionKind, payload: str | None, options: dict[str, Any]
) -> dict[str, Any]:
    if payload is not None:
        try:
            text = sys.stdin.read() if payload == "-" else Path(payload).read_text()
        except (OSError, UnicodeDecodeError) as exc:
            fail(f"--payload {payload}: {getattr(exc, 'strerror', None) or exc}")
        try:
            body = json.loads(text)
        except json.JSONDecodeError as exc:
            fail(f"--payload: not valid JSON: {exc}")
        if not isinstance(body, dict):
            fail("--payload: must be a JSON object")
        return dict(body)
    missing = [f"--{key.replace('_', '-')}" for key in ("sid", "connection") if
               key in options and options[key] is None]  # fmt: skip
    if missing:
        fail(f"{' and '.join(missing)} required (or the whole event with --payload FILE)")
    if kind == "session-close":
        return {"sid": options["sid"], "exit_code": options["exit_code"], "output": None}
    return {
        "sid": options["sid"],
        "verb": options["verb"],
        "connection_name": options["connection"],
        "user_email": options["user_email"] or "",
        "input": options["input"],
    }


def print_result(result: RunResult, as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(result.to_dict()))
        return
    click.echo(
        f"{result.hook}: {result.status} (exit {result.exit_code}, {result.duration_s:.3f}s,"
        f" commit {result.commit[:12]})",
        err=True,
    )
    if result.stdout:
        click.echo(result.stdout, nl=not result.stdout.endswith("\n"))
    if result.stderr:
        click.echo(result.stderr, err=True, nl=not result.stderr.endswith("\n"))


def exit_code_for(result: RunResult) -> int:
    return EXIT_OK if result.status == "succeeded" else EXIT_HOOK_FAILED


@main.group("dry-run")
def dry_run() -> None:
    """Run a hook locally as the daemon would, without a journal.

    The hooks run for real: whatever they call (a SIEM, chat, an access API) is really
    called, with the environment of [executor] in the config.
    """


def session_options(kind: SessionKind, trial: bool) -> Callable[[F], F]:
    """The flags that describe a session event, shared by ``dry-run`` and ``send``.

    ``trial`` (``dry-run``) fills in placeholder values; ``send`` queues a real event,
    so there it needs the session's own.
    """
    needed = "Required unless --payload."

    def option(name: str, placeholder: str, **kwargs: Any) -> Callable[[F], F]:
        if trial:
            return click.option(name, default=placeholder, show_default=True, **kwargs)
        return click.option(name, default=None, help=kwargs.pop("help", needed), **kwargs)

    def apply(function: F) -> F:
        function = click.option("--payload", help="JSON event FILE, or - for stdin.")(function)
        function = option("--sid", "dry-run")(function)
        if kind == "session-open":
            function = option("--user-email", "dry-run@example.com", help="Default: none.")(
                function
            )
            function = option("--connection", "dry-run")(function)
            function = click.option(
                "--verb", type=click.Choice(["connect", "exec"]), default="exec", show_default=True
            )(function)
            function = click.option("--input", default="", help="The session's input text.")(
                function
            )
        else:
            function = click.option("--exit-code", type=int, default=0, show_default=True)(function)
        return function

    return apply


def session_event_from_options(
    kind: SessionKind, payload: str | None, options: dict[str, Any]
) -> SessionEvent:
    try:
        return parse_session_event(kind, _session_body(kind, payload, options))
    except PayloadError as exc:
        fail(f"event: {exc}")
        raise AssertionError from exc


def _session_dry_run(kind: SessionKind) -> click.Command:
    @click.command(
        kind,
        help=f"Run {kind}.runbook.py with a {kind} event. The hook runs for real: what it"
        " calls is really called.",
    )
    @click.option("--repo", default=".", show_default=True, help="Runbooks DIR or git URL.")
    @click.option("--json", "as_json", is_flag=True, help="Print the result record as JSON.")
    @session_options(kind, trial=True)
    @config_option
    def command(
        repo: str, payload: str | None, as_json: bool, config_file: str | None, **options: Any
    ) -> None:
        from hookrunner.dryrun import SourceError, open_source
        from hookrunner.session_hooks import run_session_hook

        settings = settings_from(config_file, only=("executor", "repo", "environments"))
        configure_logging("console", "warning")
        event = session_event_from_options(kind, payload, options)
        try:
            with open_source(repo, settings) as source:
                result = asyncio.run(
                    run_session_hook(
                        event,
                        source.index,
                        settings.executor,
                        source.runtime,
                        run_id=str(uuid.uuid4()),
                        event_id=event_id(kind, event.sid),
                        attempt=1,
                    )
                )
        except SourceError as exc:
            fail(f"--repo: {exc}")
        if result.status == "skipped" and not as_json:
            fail(result.stderr or f"no {result.hook} in {repo}: nothing to run", EXIT_HOOK_FAILED)
        print_result(result, as_json)
        sys.exit(exit_code_for(result))

    return command


for _kind in SESSION_KINDS:
    dry_run.add_command(_session_dry_run(_kind))


def _parse_fields(
    _context: click.Context, _parameter: click.Parameter, values: tuple[str, ...]
) -> dict[str, str]:
    fields = {}
    for item in values:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"{item!r}: expected KEY=VALUE")
        fields[key] = value
    return fields


def field_option(function: F) -> F:
    return click.option(
        "--field", "fields", multiple=True, callback=_parse_fields, help="KEY=VALUE, repeatable."
    )(function)


@dry_run.command("flow")
@click.argument("slug")
@click.argument("event", type=click.Choice([*HOOK_EVENTS, "revoke", "expire"]))
@click.option("--repo", default=".", show_default=True, help="Runbooks DIR or git URL.")
@click.option("--user", "user", default="dry-run@example.com", show_default=True)
@field_option
@click.option("--json", "as_json", is_flag=True, help="Print the request and runs as JSON.")
@config_option
def dry_run_flow(
    slug: str,
    event: str,
    repo: str,
    user: str,
    fields: dict[str, str],
    as_json: bool,
    config_file: str | None,
) -> None:
    """Run one flow event through the engine locally: hooks run, nothing is kept.

    approve, deny and expire act on a pending request by requester@example.com (expire as
    if its request_timeout had passed); escalate, deescalate and revoke on one already in
    the state they start from. Runbooks run only when EVENT is escalate, deescalate or
    revoke.
    """
    from hookrunner.dryrun import SourceError, open_source, preview_flow
    from hookrunner.flows.errors import NotFound

    settings = settings_from(config_file, only=HOOK_SECTIONS)
    configure_logging("console", "warning")
    try:
        with open_source(repo, settings) as source:
            preview = asyncio.run(preview_flow(source, settings, slug, event, user, fields))
    except SourceError as exc:
        fail(f"--repo: {exc}")
    except NotFound as exc:
        fail(str(exc))
    failed = preview.refusal is not None or any(run.state != "succeeded" for run in preview.runs)
    if as_json:
        click.echo(
            json.dumps(
                {
                    "request": preview.request.to_dict() if preview.request else None,
                    "refusal": preview.refusal,
                    "runs": [run.to_dict() for run in preview.runs],
                }
            )
        )
    else:
        _print_preview(preview)
    sys.exit(EXIT_HOOK_FAILED if failed else EXIT_OK)


def _print_preview(preview: FlowPreview) -> None:
    for run in preview.runs:
        click.echo(f"{run.hook}: {run.outcome} (exit {run.exit_code}, {run.duration_s:.3f}s)")
        for stream in (run.stdout, run.stderr):
            if stream:
                click.echo(textwrap.indent(stream.rstrip("\n"), "  | "))
    if preview.refusal:
        click.echo(f"=> refused: {preview.refusal}")
    if preview.request is not None:
        request = preview.request
        click.echo(f"=> request {request.request_id} is {request.state}")
        for entry in request.history:
            message = f" ({entry.message})" if entry.message else ""
            click.echo(f"   {entry.event} by {entry.actor or 'the timer'}{message}")
        if request.error:
            click.echo(f"=> error: {request.error}")


@main.command()
@click.argument("directory", default=".", type=click.Path(file_okay=False))
@click.option(
    "--build/--no-build",
    default=True,
    show_default=True,
    help="Build the hook environments of requirements.txt files (in the user cache).",
)
@click.option(
    "--no-import", "parse_only", is_flag=True, help="Parse impl.py files only, never import them."
)
@config_option
def validate(directory: str, build: bool, parse_only: bool, config_file: str | None) -> None:
    """Lint a runbooks repository; each impl.py is imported in the harness, contained."""
    from hookrunner.environments import user_store
    from hookrunner.hook_runtime import HookRuntime
    from hookrunner.validate import import_flows, validate_environments, validate_repository

    settings = settings_from(config_file, only=HOOK_SECTIONS)
    root = Path(directory) / settings.repo.subdir if settings.repo.subdir else Path(directory)
    problems = validate_repository(root)
    configure_logging("console", "critical")  # each problem is reported once, below
    runtime = HookRuntime(environments=user_store(settings) if build else None)
    if root.is_dir():
        problems += validate_environments(root, runtime.environments)
    if not parse_only and root.is_dir():
        problems += asyncio.run(import_flows(root, settings, runtime))
    for problem in problems:
        click.echo(str(problem), err=True)
    errors = sum(1 for p in problems if p.severity == "error")
    click.echo(f"{errors} error(s), {len(problems) - errors} warning(s)", err=True)
    sys.exit(EXIT_USAGE if errors else EXIT_OK)


@main.command()
@config_option
def serve(config_file: str | None) -> None:
    """Run the daemon (systemd: Type=notify)."""
    from hookrunner.daemon import StartupError
    from hookrunner.daemon import serve as run_daemon

    try:
        sys.exit(run_daemon(config_file))
    except StartupError as exc:
        fail(str(exc))


@main.command()
@config_option
def migrate(config_file: str | None) -> None:
    """Bring the journal's schema up to date (the daemon also does at start)."""
    from hookrunner.daemon import StartupError, connect_journal

    try:
        journal = connect_journal(settings_from(config_file, only=("state", "journal")))
    except StartupError as exc:
        fail(str(exc))
        return
    try:
        click.echo(f"journal: schema version {journal.schema_version}, up to date")
    finally:
        journal.close()


@main.group("journal")
def journal_group() -> None:
    """The journal's storage."""


@journal_group.command("copy")
@click.option("--to", "target_url", required=True, help="postgresql://… of an empty database.")
@config_option
def journal_copy(target_url: str, config_file: str | None) -> None:
    """Copy this host's SQLite journal into PostgreSQL, to grow into a fleet.

    Stop the daemon first; then set journal.url to the target and start it again."""
    from hookrunner.daemon import StartupError, lock_state_dir
    from hookrunner.journal import SQLITE_FILE, JournalError
    from hookrunner.journal.copy import copy_journal
    from hookrunner.journal.postgres.connection import PostgresDatabase
    from hookrunner.journal.sqlite.connection import SqliteDatabase

    if not target_url.startswith(("postgresql://", "postgres://")):
        fail("--to: must be a postgresql://… URL")
    settings = settings_from(config_file, only=("state", "journal"))
    source_path = settings.state.dir / SQLITE_FILE
    if not source_path.is_file():
        fail(f"{source_path}: no SQLite journal to copy")
    try:
        lock = lock_state_dir(settings.state.dir)
    except StartupError as exc:
        fail(f"{exc}: stop the daemon first")
        return
    try:
        source = SqliteDatabase(source_path)
        try:
            target = PostgresDatabase(target_url, settings.journal.lease, max_size=2)
            try:
                copied = copy_journal(source, target)
            finally:
                target.close()
        finally:
            source.close()
    except JournalError as exc:
        fail(f"journal copy: {exc}")
        return
    finally:
        lock.close()
    counts = ", ".join(f"{count} {table}" for table, count in copied.items())
    click.echo(f"copied {counts}; set journal.url to the target and start the daemon")


def client_options(function: F) -> F:
    function = click.option(
        "--token-file", type=click.Path(dir_okay=False), help="Default: $HOOKRUNNER_TOKEN."
    )(function)
    return config_option(function)


def output_option(function: F) -> F:
    return click.option(
        "--json/--human",
        "as_json",
        default=None,
        help="JSON for scripts or text for people (default: text on a terminal, else JSON).",
    )(function)


def json_wanted(as_json: bool | None) -> bool:
    return not sys.stdout.isatty() if as_json is None else as_json


ADDRESS_VARIABLES = ("HOOKRUNNER_SERVER__LISTEN", "HOOKRUNNER_SERVER__UNIX_SOCKET")


def client_settings(config_file: str | None) -> tuple[Settings, str]:
    """The settings a client connects with, and where its address came from.

    Without a config file the client would guess the default address; it names the file
    it looked for instead.
    """
    path, named = config_path_from(config_file)
    from_environment = [name for name in ADDRESS_VARIABLES if os.environ.get(name)]
    if not named and not path.exists() and not from_environment:
        fail(
            f"no config file at {path}: pass --config FILE or set HOOKRUNNER_CONFIG"
            " (the client connects to its server.listen or server.unix_socket)"
        )
    source = from_environment[0] if from_environment else f"config {path}"
    return settings_from(config_file), source


def call_daemon(
    config_file: str | None, token_file: str | None, method: str, path: str, **kwargs: Any
) -> Any:
    """One API call; exits 3 when the daemon is unreachable, 2 when it refuses."""
    from hookrunner.client import ApiError, Client, DaemonUnreachable, read_token

    settings, source = client_settings(config_file)
    try:
        return Client(settings, read_token(token_file)).request(method, path, **kwargs)
    except DaemonUnreachable as exc:
        fail(f"daemon unreachable at {exc} (address from {source})", EXIT_UNREACHABLE)
    except ApiError as exc:
        fail(str(exc), EXIT_HOOK_FAILED if exc.status >= 500 else EXIT_USAGE)
    except OSError as exc:
        fail(f"--token-file: {exc}")


def echo_json(document: Any) -> None:
    click.echo(json.dumps(document, indent=2))


@main.group()
def send() -> None:
    """POST a session event to the running daemon (a real event: its hook runs)."""


def _sent_text(answer: dict[str, Any]) -> str:
    """What was queued; with ``--wait``, each run's result (the event is in each run)."""
    lines = []
    if answer.get("duplicate"):
        lines.append(f"event {answer['event_id']} was queued before: this is its repeat")
    runs = answer.get("runs")
    if runs is None:
        lines += [
            f"queued run {run_id}: hookrunner runs show {run_id}" for run_id in answer["run_ids"]
        ]
    else:
        lines += [render.run_text(run, time.time()) for run in runs]
    return "\n".join(lines)


def _send_command(kind: SessionKind) -> click.Command:
    @click.command(kind, help=f"Queue a {kind} event; --wait prints the hook's result.")
    @click.option("--wait", is_flag=True, help="Wait for the run and exit with its status.")
    @click.option("--idempotency-key", help="Repeat-safe delivery key.")
    @output_option
    @session_options(kind, trial=False)
    @client_options
    def command(
        wait: bool,
        idempotency_key: str | None,
        as_json: bool | None,
        payload: str | None,
        config_file: str | None,
        token_file: str | None,
        **options: Any,
    ) -> None:
        event = session_event_from_options(kind, payload, options)
        body = {"sid": event.sid, **(event.open or event.close).model_dump()}  # type: ignore[union-attr]
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else {}
        answer = call_daemon(
            config_file, token_file, "POST", f"/v1/events/{kind}",
            json=body, params={"wait": "true"} if wait else {}, headers=headers,
        )  # fmt: skip
        if json_wanted(as_json):
            echo_json(answer)
        else:
            click.echo(_sent_text(answer))
        runs = answer.get("runs", [])
        if wait and any(run["status"] not in ("succeeded", "skipped") for run in runs):
            sys.exit(EXIT_HOOK_FAILED)

    return command


for _kind in SESSION_KINDS:
    send.add_command(_send_command(_kind))


@main.group(invoke_without_command=True)
@click.option("--failed", is_flag=True, help="Only dead runs (retries exhausted).")
@click.option("--status", type=click.Choice(RUN_STATES), help="Only runs in this state.")
@click.option(
    "--limit", type=click.IntRange(1, 1000), default=50, show_default=True, help="At most N runs."
)
@click.option("-q", "--quiet", is_flag=True, help="Print only the run ids.")
@output_option
@client_options
@click.pass_context
def runs(
    context: click.Context,
    failed: bool,
    status: str | None,
    limit: int,
    quiet: bool,
    as_json: bool | None,
    config_file: str | None,
    token_file: str | None,
) -> None:
    """List runs, newest first."""
    if context.invoked_subcommand is not None:
        return
    params: dict[str, Any] = {"limit": limit}
    if failed or status:
        params["status"] = "dead" if failed else status
    answer = call_daemon(config_file, token_file, "GET", "/v1/runs", params=params)
    listed = answer["runs"]
    if quiet:
        click.echo("\n".join(run["run_id"] for run in listed), nl=bool(listed))
    elif json_wanted(as_json):
        for run in listed:
            click.echo(json.dumps(run))
    else:
        click.echo(render.runs_table(listed, time.time()) if listed else "none")
    if answer.get("more") and not quiet:
        click.echo(
            f"(the newest {limit} shown; --limit {min(1000, 2 * limit)} shows more)", err=True
        )


@runs.command("show")
@click.argument("run_id")
@output_option
@client_options
def runs_show(
    run_id: str, as_json: bool | None, config_file: str | None, token_file: str | None
) -> None:
    """Show one run with its output."""
    run = call_daemon(config_file, token_file, "GET", f"/v1/runs/{run_id}")
    click.echo(
        json.dumps(run, indent=2) if json_wanted(as_json) else render.run_text(run, time.time())
    )


@runs.command("replay")
@click.argument("run_id")
@output_option
@client_options
def runs_replay(
    run_id: str, as_json: bool | None, config_file: str | None, token_file: str | None
) -> None:
    """Queue the run's event again (a new event, the same payload).

    When the replay succeeds, a dead RUN_ID becomes ``replayed`` and leaves ``--failed``.
    """
    answer = call_daemon(config_file, token_file, "POST", f"/v1/runs/{run_id}/replay")
    if json_wanted(as_json):
        echo_json(answer)
    else:
        click.echo(f"replay of {run_id} queued\n{_sent_text(answer)}")


@main.command()
@output_option
@client_options
def sync(as_json: bool | None, config_file: str | None, token_file: str | None) -> None:
    """Refresh the runbooks repository now and print the commit (needs the admin scope)."""
    answer = call_daemon(config_file, token_file, "POST", "/v1/sync")
    click.echo(
        json.dumps(answer, indent=2) if json_wanted(as_json) else f"synced {answer['commit']}"
    )


@main.command()
@output_option
@client_options
def status(as_json: bool | None, config_file: str | None, token_file: str | None) -> None:
    """Commit, last sync, queue depth (and why there is no snapshot yet, if so)."""
    answer = call_daemon(config_file, token_file, "GET", "/v1/status")
    click.echo(json.dumps(answer, indent=2) if json_wanted(as_json) else render.status_text(answer))


@main.group()
def token() -> None:
    """Manage API tokens."""


@token.command("new")
@click.option("--name", required=True)
@click.option("--scope", "scopes", multiple=True, required=True, type=click.Choice(SCOPES))
@config_option
def token_new(name: str, scopes: tuple[str, ...], config_file: str | None) -> None:
    """Print a fresh token (stdout) and its tokens-file entry (stderr).

    The token works once its entry is in server.tokens_file and the daemon has re-read
    that file (systemctl reload hookrunner, i.e. SIGHUP).
    """
    from hookrunner.server.auth import new_token

    secret, entry = new_token(name, list(scopes))
    click.echo(secret)
    note = (
        f"# {name}: inactive until this entry is in server.tokens_file and the daemon\n"
        "# reloads it (systemctl reload hookrunner, or kill -HUP its pid).\n"
    )
    click.echo(note + entry, err=True, nl=False)


@main.group()
def flow() -> None:
    """Open, decide and inspect access requests on the running daemon."""


def _request_line(request: dict[str, Any]) -> str:
    return (
        f"{request['id']}  {request['state']:<11} {request['flow']:<16}"
        f" {request['requester']['email']}"
    )


def _print_request(request: dict[str, Any], as_json: bool | None) -> None:
    if json_wanted(as_json):
        click.echo(json.dumps(request))
        return
    click.echo(_request_line(request))
    for entry in request.get("history", []):
        actor = (entry["actor"] or {}).get("email", "the timer")
        message = f" ({entry['message']})" if entry["message"] else ""
        click.echo(f"  {entry['event']} by {actor}{message}")
    if request.get("error"):
        click.echo(f"  error: {request['error']}")


def user_option(function: F) -> F:
    return click.option("--user", "user", required=True, help="E-mail of who acts.")(function)


@flow.command("prompt")
@click.argument("slug")
@user_option
@field_option
@output_option
@client_options
def flow_prompt(
    slug: str,
    user: str,
    fields: dict[str, str],
    as_json: bool | None,
    config_file: str | None,
    token_file: str | None,
) -> None:
    """Ask whether USER may open a request on flow SLUG (a refusal exits 2 with its reason)."""
    body = {"user": {"email": user}, "fields": fields}
    answer = call_daemon(config_file, token_file, "POST", f"/v1/flows/{slug}/prompt", json=body)
    if json_wanted(as_json):
        echo_json(answer)
    else:
        click.echo(f"{user} may open a request on {slug}")


@flow.command("request")
@click.argument("slug")
@user_option
@field_option
@click.option("--duration", help="Seconds, or 30m / 1h; capped by the flow's max_duration.")
@click.option("--idempotency-key", help="Repeat-safe key: a repeat gets the request it opened.")
@output_option
@click.option("-q", "--quiet", is_flag=True, help="Print only the request id.")
@client_options
def flow_request(
    slug: str,
    user: str,
    fields: dict[str, str],
    duration: str | None,
    idempotency_key: str | None,
    as_json: bool | None,
    quiet: bool,
    config_file: str | None,
    token_file: str | None,
) -> None:
    """Open an access request on flow SLUG."""
    body: dict[str, Any] = {"user": {"email": user}, "fields": fields}
    if duration is not None:
        body["duration"] = int(duration) if duration.isdigit() else duration
    path = f"/v1/flows/{slug}/requests"
    headers = {"Idempotency-Key": idempotency_key} if idempotency_key else {}
    answer = call_daemon(config_file, token_file, "POST", path, json=body, headers=headers)
    if quiet:
        click.echo(answer["id"])
    else:
        _print_request(answer, as_json)


def _decision_command(event: str) -> click.Command:
    @click.command(event, help=f"{event.capitalize()} request ID as USER.")
    @click.argument("request_id")
    @user_option
    @click.option("--reason", help="Recorded in the history; hooks see it as a field.")
    @output_option
    @client_options
    def command(
        request_id: str,
        user: str,
        reason: str | None,
        as_json: bool | None,
        config_file: str | None,
        token_file: str | None,
    ) -> None:
        body: dict[str, Any] = {"user": {"email": user}}
        if reason is not None:
            body["reason"] = reason
        path = f"/v1/requests/{request_id}/{event}"
        _print_request(call_daemon(config_file, token_file, "POST", path, json=body), as_json)

    return command


for _event in ("approve", "deny", "revoke"):
    flow.add_command(_decision_command(_event))


@flow.command("list")
@click.option("--state", type=click.Choice(REQUEST_STATES))
@click.option("--flow", "slug", help="Only requests of this flow.")
@output_option
@client_options
def flow_list(
    state: str | None,
    slug: str | None,
    as_json: bool | None,
    config_file: str | None,
    token_file: str | None,
) -> None:
    """List requests, newest first."""
    params = {k: v for k, v in (("state", state), ("flow", slug)) if v}
    answer = call_daemon(config_file, token_file, "GET", "/v1/requests", params=params)
    for request in answer["requests"]:
        click.echo(json.dumps(request) if json_wanted(as_json) else _request_line(request))


@flow.command("show")
@click.argument("request_id")
@output_option
@client_options
def flow_show(
    request_id: str, as_json: bool | None, config_file: str | None, token_file: str | None
) -> None:
    """Show one request with its history."""
    path = f"/v1/requests/{request_id}"
    _print_request(call_daemon(config_file, token_file, "GET", path), as_json)


@flow.command("flows")
@output_option
@client_options
def flow_flows(as_json: bool | None, config_file: str | None, token_file: str | None) -> None:
    """List the flows of the current snapshot: served, or broken and why."""
    answer = call_daemon(config_file, token_file, "GET", "/v1/flows")
    for state in answer["flows"]:
        if json_wanted(as_json):
            click.echo(json.dumps(state))
        elif state["served"]:
            click.echo(f"{state['slug']} served (strategy {state['strategy']})")
        else:
            click.echo(f"{state['slug']} BROKEN: {state['error']}")
