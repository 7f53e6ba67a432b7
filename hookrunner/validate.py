"""Lint a runbooks repository: parse every hook file, then import each ``impl.py`` in the
harness, contained by the executor as the daemon would (``--no-import`` skips that)."""

from __future__ import annotations

import ast
import difflib
import re
from pathlib import Path
from typing import NamedTuple

from hookrunner.config import Settings
from hookrunner.environments import EnvironmentBuildError, EnvironmentStore
from hookrunner.environments.requirements import hook_directories, read_requirements
from hookrunner.flows.catalog import Catalog
from hookrunner.flows.definition import (
    DEESCALATE_RUNBOOK,
    ESCALATE_RUNBOOK,
    Declared,
    FlowError,
    declared_functions,
    load_flow_settings,
)
from hookrunner.flows.sym._names import HOOK_NAMES, REDUCER_NAMES
from hookrunner.hook_runtime import HookRuntime
from hookrunner.repo import (
    SESSION_HOOK_FILES,
    Snapshot,
    build_index,
    is_valid_slug,
    refused_hook_files,
)

REMOVAL_WORDS = re.compile(r"deescalat|revok|remov|expire")


class Problem(NamedTuple):
    path: str
    line: int
    message: str
    severity: str = "error"

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.severity}: {self.message}"


def parse_python(path: Path, shown: str) -> tuple[ast.Module | None, list[Problem]]:
    """Parse one hook file; a syntax or encoding error becomes a problem."""
    try:
        return ast.parse(path.read_bytes(), filename=shown), []
    except SyntaxError as exc:
        return None, [Problem(shown, exc.lineno or 0, f"syntax error: {exc.msg}")]
    except (OSError, ValueError) as exc:
        return None, [Problem(shown, 0, f"cannot read: {exc}")]


def _go_template_actions(path: Path, shown: str) -> list[Problem]:
    """hoop renders a session hook as a Go template before running it; hookrunner does not."""
    try:
        lines = path.read_text(errors="replace").splitlines()
    except OSError:
        return []  # parse_python has said why
    return [
        Problem(
            shown,
            number,
            "'{{' starts a template action in hoop, which renders hook files as Go templates"
            " (and refuses one that is not valid); hookrunner runs the file as written",
            "warning",
        )
        for number, line in enumerate(lines, start=1)
        if "{{" in line
    ]


def validate_session_hooks(root: Path) -> list[Problem]:
    problems: list[Problem] = []
    present = [rel for rel in SESSION_HOOK_FILES.values() if (root / rel).is_file()]
    if not present:
        problems.append(Problem("hoop-hooks/", 0, "no session hooks found", "warning"))
    for rel in present:
        problems += parse_python(root / rel, rel)[1]
        problems += _go_template_actions(root / rel, rel)
    hooks_dir = root / "hoop-hooks"
    for path in sorted(hooks_dir.glob("*.runbook.py")) if hooks_dir.is_dir() else []:
        rel = f"hoop-hooks/{path.name}"
        if rel not in SESSION_HOOK_FILES.values():
            problems.append(Problem(rel, 0, "not a known session hook name", "warning"))
    return problems


def _suggest(name: str, known: tuple[str, ...]) -> str:
    close = difflib.get_close_matches(name, known, n=1)
    return f" (did you mean {close[0]}?)" if close else ""


def _check_declared(shown: str, declared: list[Declared]) -> list[Problem]:
    problems = []
    first_line: dict[str, int] = {}
    for function in declared:
        known_hook = function.name in HOOK_NAMES
        known_reducer = function.name in REDUCER_NAMES
        if function.name in first_line and (function.kind or known_hook or known_reducer):
            problems.append(
                Problem(
                    shown, function.line,
                    f"{function.name} is defined twice (first on line"
                    f" {first_line[function.name]}); only the last one runs",
                )
            )  # fmt: skip
        first_line.setdefault(function.name, function.line)
        if function.kind == "hook" and not known_hook:
            problems.append(
                Problem(
                    shown, function.line,
                    f"unknown hook name {function.name}{_suggest(function.name, HOOK_NAMES)}",
                )
            )  # fmt: skip
        elif function.kind == "prefetch":
            continue
        elif function.kind == "reducer" and not known_reducer:
            suggestion = _suggest(function.name, REDUCER_NAMES)
            problems.append(
                Problem(shown, function.line, f"unknown reducer {function.name}{suggestion}")
            )
        elif function.kind is None and (known_hook or known_reducer):
            decorator = "@hook" if known_hook else "@reducer"
            problems.append(
                Problem(
                    shown, function.line,
                    f"{function.name} is not decorated with {decorator}, so it never runs",
                    "warning",
                )
            )  # fmt: skip
    return problems


def _check_after_escalate(shown: str, declared: list[Declared]) -> list[Problem]:
    """``after_escalate`` whose body removes access was surely meant as ``after_deescalate``."""
    names = {function.name for function in declared}
    if "after_deescalate" in names:
        return []
    return [
        Problem(
            shown,
            function.line,
            "after_escalate looks like it handles removal; did you mean after_deescalate?",
            "warning",
        )
        for function in declared
        if function.name == "after_escalate"
        and REMOVAL_WORDS.search(ast.unparse(function.node).lower())
    ]


def validate_flow(directory: Path) -> list[Problem]:
    slug = directory.name
    shown = f"flows/{slug}"
    if not is_valid_slug(slug):
        return [Problem(shown, 0, "slug must match [a-z0-9][a-z0-9_-]{0,62}")]
    if not (directory / "impl.py").is_file():
        return [Problem(shown, 0, "no impl.py, so this is not a flow", "warning")]
    tree, problems = parse_python(directory / "impl.py", f"{shown}/impl.py")
    if tree is not None:
        declared = declared_functions(tree)
        problems += _check_declared(f"{shown}/impl.py", declared)
        problems += _check_after_escalate(f"{shown}/impl.py", declared)
    try:
        load_flow_settings(directory / "flow.toml")
    except FlowError as exc:
        problems.append(Problem(f"{shown}/flow.toml", 0, str(exc).split(": ", 1)[1]))
    for runbook in sorted(directory.glob("*.runbook.py")):
        if runbook.name not in (ESCALATE_RUNBOOK, DEESCALATE_RUNBOOK):
            message = "not a known runbook name (escalate / deescalate)"
            problems.append(Problem(f"{shown}/{runbook.name}", 0, message, "warning"))
        problems += parse_python(runbook, f"{shown}/{runbook.name}")[1]
    return problems


def validate_flows(root: Path) -> list[Problem]:
    flows = root / "flows"
    if not flows.is_dir():
        return []
    return [
        problem
        for entry in sorted(flows.iterdir())
        if entry.is_dir()
        for problem in validate_flow(entry)
    ]


def validate_repository(root: Path) -> list[Problem]:
    if not root.is_dir():
        return [Problem(str(root), 0, "not a directory")]
    refused = refused_hook_files(root)
    if refused:  # the daemon's symlink rule; nothing behind a refused link is read
        return [Problem(rel, 0, error.split(": ", 1)[1]) for rel, error in refused.items()]
    return validate_session_hooks(root) + validate_flows(root)


def validate_environments(root: Path, environments: EnvironmentStore | None) -> list[Problem]:
    """Check each ``requirements.txt`` and, given a store, build its environment as the
    daemon will before publishing (building installs wheels only, unless
    ``environments.allow_source_builds``: then a package's build code runs)."""
    problems = []
    for directory, shown in hook_directories(root):
        try:
            requirements = read_requirements(directory, shown)
            if requirements is not None and environments is not None:
                environments.ensure(requirements)
        except EnvironmentBuildError as exc:
            problems.append(Problem(exc.source, exc.line, exc.detail))
    return problems


async def import_flows(root: Path, settings: Settings, runtime: HookRuntime) -> list[Problem]:
    """Import each flow that parsed cleanly in the harness, contained, with ``runtime``'s
    environments (those just built); report what keeps the daemon from serving it (an
    import error, an unknown name, a missing integration)."""
    index = build_index(Snapshot("validate", root.resolve()))
    catalog = Catalog(settings, runtime)
    problems = []
    for slug in sorted(index.flows):
        parsed = validate_flow(root / "flows" / slug)
        if any(problem.severity == "error" for problem in parsed):
            continue  # already reported; importing adds nothing
        state = await catalog.state(index, slug)
        if state.error is not None:
            problems.append(Problem(f"flows/{slug}/impl.py", 0, state.error))
    return problems
