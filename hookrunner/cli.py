"""Command line: thin click commands that parse, call the library and print.

Exit codes: 0 ok, 1 the hook failed, 2 usage or validation error, 3 daemon unreachable.
"""

from __future__ import annotations

import asyncio
import json
import sys
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from hookrunner import __version__
from hookrunner.config import ConfigError, Settings, load_settings
from hookrunner.execution import RunResult
from hookrunner.logs import configure_logging
from hookrunner.payloads import (
    SESSION_KINDS,
    PayloadError,
    SessionKind,
    event_id,
    parse_session_event,
)
from hookrunner.session_hooks import run_session_hook

EXIT_OK, EXIT_HOOK_FAILED, EXIT_USAGE, EXIT_UNREACHABLE = 0, 1, 2, 3
F = TypeVar("F", bound=Callable[..., Any])


def fail(message: str, code: int = EXIT_USAGE) -> None:
    """One line naming what is wrong, then exit."""
    click.echo(f"hookrunner: {message}", err=True)
    sys.exit(code)


def config_option(function: F) -> F:
    return click.option(
        "--config",
        "config_file",
        type=click.Path(dir_okay=False),
        help="TOML config file (default: $HOOKRUNNER_CONFIG or /etc/hookrunner/hookrunner.toml).",
    )(function)


def settings_from(config_file: str | None, only: tuple[str, ...] | None = None) -> Settings:
    try:
        return load_settings(config_file, only=only)
    except ConfigError as exc:
        fail(f"config: {exc}")
        raise AssertionError from exc  # unreachable: fail() exits


@click.group()
@click.version_option(__version__, prog_name="hookrunner")
def main() -> None:
    """Run hoop session hooks and approval-flow hooks from a runbooks git repository."""


def _session_body(
    kind: SessionKind, payload: str | None, options: dict[str, Any]
) -> dict[str, Any]:
    if payload is not None:
        text = sys.stdin.read() if payload == "-" else Path(payload).read_text()
        try:
            body = json.loads(text)
        except json.JSONDecodeError as exc:
            fail(f"--payload: not valid JSON: {exc}")
        if not isinstance(body, dict):
            fail("--payload: must be a JSON object")
        return dict(body)
    if kind == "session-close":
        return {"sid": options["sid"], "exit_code": options["exit_code"], "output": None}
    return {
        "sid": options["sid"],
        "verb": options["verb"],
        "connection_name": options["connection"],
        "user_email": options["user_email"],
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
    """Run a hook locally exactly as the daemon would, without a journal."""


def _session_dry_run(kind: SessionKind) -> click.Command:
    @click.option("--repo", default=".", show_default=True, help="Runbooks DIR or git URL.")
    @click.option("--payload", help="JSON event FILE, or - for stdin.")
    @click.option("--sid", default="dry-run", show_default=True)
    @click.option("--json", "as_json", is_flag=True, help="Print the result record as JSON.")
    @config_option
    def command(
        repo: str, payload: str | None, as_json: bool, config_file: str | None, **options: Any
    ) -> None:
        from hookrunner.dryrun import SourceError, open_source

        settings = settings_from(config_file, only=("executor", "repo"))
        configure_logging("console", "warning")
        try:
            event = parse_session_event(kind, _session_body(kind, payload, options))
        except PayloadError as exc:
            fail(f"event: {exc}")
        try:
            with open_source(repo, settings) as index:
                result = asyncio.run(
                    run_session_hook(
                        event,
                        index,
                        settings.executor,
                        run_id=str(uuid.uuid4()),
                        event_id=event_id(kind, event.sid),
                        attempt=1,
                    )
                )
        except SourceError as exc:
            fail(f"--repo: {exc}")
        if result.status == "skipped" and not as_json:
            fail(f"no {result.hook} in {repo}: nothing to run", EXIT_HOOK_FAILED)
        print_result(result, as_json)
        sys.exit(exit_code_for(result))

    if kind == "session-open":
        command = click.option("--user-email", default="dry-run@example.com", show_default=True)(
            command
        )
        command = click.option("--connection", default="dry-run", show_default=True)(command)
        command = click.option(
            "--verb", type=click.Choice(["connect", "exec"]), default="exec", show_default=True
        )(command)
        command = click.option("--input", default="", help="The session's input text.")(command)
    else:
        command = click.option("--exit-code", type=int, default=0, show_default=True)(command)
    return click.command(kind, help=f"Run {kind}.runbook.py with a {kind} event.")(command)


for _kind in SESSION_KINDS:
    dry_run.add_command(_session_dry_run(_kind))


@main.command()
@click.argument("directory", default=".", type=click.Path(file_okay=False))
@config_option
def validate(directory: str, config_file: str | None) -> None:
    """Lint a runbooks repository without running any of it."""
    from hookrunner.validate import validate_repository

    settings = settings_from(config_file, only=("executor", "repo"))
    root = Path(directory) / settings.repo.subdir if settings.repo.subdir else Path(directory)
    problems = validate_repository(root)
    for problem in problems:
        click.echo(str(problem), err=True)
    errors = sum(1 for p in problems if p.severity == "error")
    click.echo(f"{errors} error(s), {len(problems) - errors} warning(s)", err=True)
    sys.exit(EXIT_USAGE if errors else EXIT_OK)
