"""What a flow directory declares: ``flow.toml`` (DESIGN §7) and the files beside it.

This is learned by parsing only (``tomllib``, ``ast``). What ``impl.py`` defines when it
is imported is asked of the harness (:mod:`hookrunner.flows.catalog`); the parse here
is what ``validate --no-import`` reports and what catches a syntax error cheaply.
"""

from __future__ import annotations

import ast
import functools
import re
import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal, NamedTuple

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from hookrunner.flows.errors import FlowUnavailable, Invalid, NotFound
from hookrunner.flows.identity import canonical_email
from hookrunner.payloads import first_error
from hookrunner.repo import HookIndex, is_valid_slug

_DURATION = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*")
_UNIT_SECONDS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}
ESCALATE_RUNBOOK = "escalate.runbook.py"
DEESCALATE_RUNBOOK = "deescalate.runbook.py"

FIELD_TYPES = ("string", "int", "bool", "duration", "list", "user", "target")
# okta and aws_lambda are run by the daemon with the flow's integration (flows/grants.py).
STRATEGIES = ("runbook", "custom", "okta", "aws_lambda")
_NAME = r"^[A-Za-z_][A-Za-z0-9_]{0,63}$"


class FlowError(FlowUnavailable):
    """``flow.toml`` or ``impl.py`` cannot be used; the message names the file."""


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
    if not seconds > 0 or seconds == float("inf"):
        raise ValueError("must be positive and finite")
    return seconds


Duration = Annotated[float, BeforeValidator(parse_duration)]


class _Table(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PromptField(_Table):
    """One ``[[fields]]`` entry: a prompt field of the request form."""

    name: str = Field(pattern=_NAME)
    type: Literal["string", "int", "bool", "duration", "list", "user", "target"] = "string"
    label: str = ""
    required: bool = False
    allowed_values: list[Any] | None = None
    default: Any = None

    def to_document(self, prefetch: bool) -> dict[str, Any]:
        return {**self.model_dump(), "label": self.label or self.name, "prefetch": prefetch}


class AccessTarget(_Table):
    """One ``[[targets]]`` entry: what a request may ask access to."""

    name: str = Field(pattern=r"^[A-Za-z0-9_][A-Za-z0-9_.:-]{0,127}$")
    label: str = ""
    type: str = "custom"
    settings: dict[str, Any] = {}

    def to_document(self) -> dict[str, Any]:
        return {**self.model_dump(), "label": self.label or self.name}


class FlowSettings(_Table):
    """``flow.toml``, the counterpart of Sym's ``sym_flow``; every key optional."""

    approvers: list[str] = []
    allow_self_approval: bool = False
    allow_revoke: bool = True
    default_duration: Duration = 3600
    max_duration: Duration = 86400
    request_timeout: Duration = 86400
    vars: dict[str, Any] = {}
    strategy: str = "runbook"
    integrations: list[Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,62}$")]] = []
    fields: list[PromptField] = []
    targets: list[AccessTarget] = []

    @field_validator("approvers")
    @classmethod
    def _canonical_approvers(cls, value: list[str]) -> list[str]:
        try:
            return [canonical_email(email) for email in value]
        except Invalid as exc:
            raise ValueError(str(exc)) from None

    @field_validator("strategy")
    @classmethod
    def _known_strategy(cls, value: str) -> str:
        if value not in STRATEGIES:
            raise ValueError(
                f"strategy {value!r} is not supported; use 'runbook' (escalate/deescalate"
                " runbooks), 'custom' (an AccessStrategy subclass in impl.py), 'okta' or"
                " 'aws_lambda'"
            )
        return value

    @model_validator(mode="after")
    def _consistent(self) -> FlowSettings:
        if self.default_duration > self.max_duration:
            raise ValueError("default_duration exceeds max_duration")
        for kind, names in (
            ("field", [f.name for f in self.fields]),
            ("target", [t.name for t in self.targets]),
        ):
            twice = sorted({name for name in names if names.count(name) > 1})
            if twice:
                raise ValueError(f"{kind} {twice[0]!r} is declared twice")
        if any(f.type == "target" for f in self.fields) and not self.targets:
            raise ValueError("a field of type 'target' needs [[targets]]")
        return self

    def duration_for(self, requested: float | None) -> float:
        return min(self.max_duration, requested or self.default_duration)

    def field(self, name: str) -> PromptField | None:
        return next((f for f in self.fields if f.name == name), None)


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
    kind: str | None  # "hook", "reducer", "prefetch", or None when undecorated
    line: int
    node: ast.FunctionDef | ast.AsyncFunctionDef


def _decorator_kind(decorator: ast.expr) -> str | None:
    target = decorator.func if isinstance(decorator, ast.Call) else decorator
    name = target.attr if isinstance(target, ast.Attribute) else getattr(target, "id", None)
    return name if name in ("hook", "reducer", "prefetch") else None


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

    @property
    def impl(self) -> Path:
        return self.directory / "impl.py"

    def runbook(self, name: str) -> Path | None:
        path = self.directory / name
        return path if path.is_file() else None


def parse_impl(impl: Path, slug: str) -> ast.Module:
    """``impl.py`` parsed; :class:`FlowError` naming the line of a syntax error."""
    try:
        return ast.parse(impl.read_bytes(), filename=f"{slug}/impl.py")
    except SyntaxError as exc:
        raise FlowError(f"{slug}/impl.py:{exc.lineno}: syntax error: {exc.msg}") from None
    except (OSError, ValueError) as exc:
        raise FlowError(f"{slug}/impl.py: cannot read: {exc}") from None


# Keyed by directory: a published snapshot never changes, and dry-run is one process.
@functools.lru_cache(maxsize=256)
def _load(directory: Path, slug: str) -> FlowDefinition:
    parse_impl(directory / "impl.py", slug)
    return FlowDefinition(slug, directory, load_flow_settings(directory / "flow.toml"))


def load_flow(index: HookIndex, slug: str) -> FlowDefinition:
    """The flow ``slug`` of a snapshot; :class:`NotFound` if there is none,
    :class:`FlowError` if it cannot be used."""
    if not is_valid_slug(slug) or slug not in index.flows:
        refusal = index.refusal(f"flows/{slug}") if is_valid_slug(slug) else None
        raise NotFound(refusal or f"no flow {slug!r} at commit {index.snapshot.commit[:12]}")
    return _load(index.snapshot.path / "flows" / slug, slug)
