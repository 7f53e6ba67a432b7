"""What a flow directory declares: its settings, hooks, reducers and runbooks.

Everything here is learned by parsing (``tomllib``, ``ast``), never by running user
code, so the daemon and ``validate`` agree on what a flow defines and a broken
``impl.py`` is reported before any of it runs.
"""

from __future__ import annotations

import ast
import functools
import re
import tomllib
from pathlib import Path
from typing import Annotated, Any, NamedTuple

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, model_validator

from hookrunner.payloads import first_error
from hookrunner.repo import HookIndex, is_valid_slug
from hookrunner.sdk import HOOK_NAMES, REDUCER_NAMES

_DURATION = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*")
_UNIT_SECONDS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}
ESCALATE_RUNBOOK = "escalate.runbook.py"
DEESCALATE_RUNBOOK = "deescalate.runbook.py"


class FlowError(Exception):
    """A flow cannot be used as it stands; the message names the file and the problem."""


def parse_duration(value: Any) -> float:
    """Seconds from a number or a string like ``90``, ``30m``, ``1h``, ``2d``."""
    if isinstance(value, bool):
        raise ValueError("must be seconds or a string like 30m / 1h")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str) and (match := _DURATION.fullmatch(value)):
        seconds = float(match[1]) * _UNIT_SECONDS[match[2]]
    else:
        raise ValueError("must be seconds or a string like 30m / 1h")
    if seconds <= 0:
        raise ValueError("must be positive")
    return seconds


Duration = Annotated[float, BeforeValidator(parse_duration)]


class FlowSettings(BaseModel):
    """``flow.toml``; every key optional."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    approvers: list[Annotated[str, Field(pattern=r"^[^@\s]+@[^@\s]+$")]] = []
    allow_self_approval: bool = False
    default_duration: Duration = 3600
    max_duration: Duration = 86400
    request_timeout: Duration = 86400
    vars: dict[str, Any] = {}

    @model_validator(mode="after")
    def _default_within_max(self) -> FlowSettings:
        if self.default_duration > self.max_duration:
            raise ValueError("default_duration exceeds max_duration")
        return self

    def duration_for(self, requested: float | None) -> float:
        return min(self.max_duration, requested or self.default_duration)


def load_flow_settings(path: Path) -> FlowSettings:
    if not path.is_file():
        return FlowSettings()
    try:
        return FlowSettings.model_validate(tomllib.loads(path.read_text()))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError, OSError) as exc:
        raise FlowError(f"{path.parent.name}/flow.toml: {exc}") from None
    except ValidationError as exc:
        raise FlowError(f"{path.parent.name}/flow.toml: {first_error(exc, 'flow.toml')}") from None


class Declared(NamedTuple):
    """A top-level function of ``impl.py`` and what its decorator makes it."""

    name: str
    kind: str | None  # "hook", "reducer", or None when undecorated
    line: int
    node: ast.FunctionDef | ast.AsyncFunctionDef


def _decorator_kind(decorator: ast.expr) -> str | None:
    target = decorator.func if isinstance(decorator, ast.Call) else decorator
    name = target.attr if isinstance(target, ast.Attribute) else getattr(target, "id", None)
    return name if name in ("hook", "reducer") else None


def declared_functions(tree: ast.Module) -> list[Declared]:
    found = []
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            kinds = [_decorator_kind(d) for d in node.decorator_list]
            kind = next((k for k in kinds if k), None)
            found.append(Declared(node.name, kind, node.lineno, node))
    return found


class FlowDefinition(NamedTuple):
    slug: str
    directory: Path
    settings: FlowSettings
    hooks: frozenset[str]
    reducers: frozenset[str]

    @property
    def impl(self) -> Path:
        return self.directory / "impl.py"

    def runbook(self, name: str) -> Path | None:
        path = self.directory / name
        return path if path.is_file() else None


# Keyed by directory: a published snapshot never changes, and dry-run is one process.
@functools.lru_cache(maxsize=256)
def _load(directory: Path, slug: str) -> FlowDefinition:
    impl = directory / "impl.py"
    try:
        tree = ast.parse(impl.read_bytes(), filename=f"{slug}/impl.py")
    except SyntaxError as exc:
        raise FlowError(f"{slug}/impl.py:{exc.lineno}: syntax error: {exc.msg}") from None
    except (OSError, ValueError) as exc:
        raise FlowError(f"{slug}/impl.py: cannot read: {exc}") from None
    declared = declared_functions(tree)
    hooks = frozenset(d.name for d in declared if d.kind == "hook" and d.name in HOOK_NAMES)
    reducers = frozenset(
        d.name for d in declared if d.kind == "reducer" and d.name in REDUCER_NAMES
    )
    settings = load_flow_settings(directory / "flow.toml")
    return FlowDefinition(slug, directory, settings, hooks, reducers)


def load_flow(index: HookIndex, slug: str) -> FlowDefinition:
    """The flow ``slug`` of a snapshot; :class:`LookupError` if there is none."""
    if not is_valid_slug(slug) or slug not in index.flows:
        refusal = index.refusal(f"flows/{slug}") if is_valid_slug(slug) else None
        raise LookupError(refusal or f"no flow {slug!r} at commit {index.snapshot.commit[:12]}")
    return _load(index.snapshot.path / "flows" / slug, slug)
