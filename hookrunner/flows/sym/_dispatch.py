"""One run of the harness: import ``impl.py``, find the handler named, call it, answer.

Names: a hook (``on_approve``), a reducer (``get_permissions``), ``prefetch:<field>``,
``strategy:escalate`` / ``strategy:deescalate``, or ``describe``.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
import types
from typing import Any, NamedTuple

from . import _wire
from ._context import set_document
from ._document import event_from
from ._names import HOOK_NAMES, MARKER, REDUCER_NAMES
from .sdk.event import Event
from .sdk.exceptions import SDKError
from .sdk.strategies import AccessStrategy, Integration
from .sdk.target import AccessTarget

STRATEGY_STEPS = ("escalate", "deescalate")
# Sym keeps a custom strategy in its own file beside impl.py.
STRATEGY_MODULE = "strategy"


class HandlerNotFound(SDKError):
    def __init__(self, message: str) -> None:
        super().__init__("HANDLER_NOT_FOUND", message)


class Answer(NamedTuple):
    """The handler's JSON value, and the output a strategy step left for later hooks."""

    value: Any
    step_output: dict[str, Any] | None = None


def load_impl(path: str) -> types.ModuleType:
    """Import ``impl.py`` as module ``impl``, its directory first on ``sys.path``."""
    sys.path.insert(0, os.path.dirname(os.path.abspath(path)))
    spec = importlib.util.spec_from_file_location("impl", path)
    if spec is None or spec.loader is None:
        raise HandlerNotFound(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules["impl"] = module
    spec.loader.exec_module(module)
    return module


def _kind(value: Any) -> str | None:
    kind = getattr(value, MARKER, None) if isinstance(value, types.FunctionType) else None
    return kind if isinstance(kind, str) else None


def describe(impl: types.ModuleType) -> dict[str, Any]:
    """What ``impl.py`` defines: known hooks, reducers, prefetch fields, strategy, unknown."""
    hooks: list[str] = []
    reducers: list[str] = []
    prefetch: list[str] = []
    unknown: list[str] = []
    for name, value in vars(impl).items():
        kind = _kind(value)
        if kind == "hook":
            (hooks if name in HOOK_NAMES else unknown).append(name)
        elif kind == "reducer":
            (reducers if name in REDUCER_NAMES else unknown).append(name)
        elif kind is not None and kind.startswith("prefetch:"):
            field = kind.split(":", 1)[1]
            if field in prefetch:
                raise HandlerNotFound(f"two @prefetch reducers for field {field!r}")
            prefetch.append(field)
        elif name in REDUCER_NAMES and isinstance(value, types.FunctionType):
            unknown.append(name)  # undecorated, it would be skipped with its policy
    strategy = find_strategy(impl)
    return {
        "hooks": sorted(hooks),
        "reducers": sorted(reducers),
        "prefetch": sorted(prefetch),
        "strategy": strategy.__name__ if strategy else None,
        "unknown": sorted(unknown),
    }


def _strategies(module: types.ModuleType) -> set[type[AccessStrategy]]:
    return {
        value
        for value in vars(module).values()
        if isinstance(value, type)
        and issubclass(value, AccessStrategy)
        and value is not AccessStrategy
        and not getattr(value, "__abstractmethods__", None)
    }


def find_strategy(impl: types.ModuleType) -> type[AccessStrategy] | None:
    """The one ``AccessStrategy`` subclass of ``impl.py`` (or of ``strategy.py`` beside it)."""
    found = _strategies(impl)
    beside = os.path.join(os.path.dirname(str(impl.__file__)), f"{STRATEGY_MODULE}.py")
    if not found and os.path.isfile(beside):
        found = _strategies(importlib.import_module(STRATEGY_MODULE))
    if len(found) > 1:
        names = ", ".join(sorted(cls.__name__ for cls in found))
        raise HandlerNotFound(f"more than one AccessStrategy subclass: {names}")
    return found.pop() if found else None


def _handler(impl: types.ModuleType, name: str, kind: str) -> Any:
    function = vars(impl).get(name)
    if _kind(function) != kind:
        raise HandlerNotFound(f"impl.py has no @{kind.split(':')[0]} named {name}")
    return function


def _prefetch(impl: types.ModuleType, field: str) -> Any:
    for value in vars(impl).values():
        if _kind(value) == f"prefetch:{field}":
            return value
    raise HandlerNotFound(f"impl.py has no @prefetch reducer for field {field!r}")


def run_strategy(impl: types.ModuleType, step: str, event: Event) -> Answer:
    """Run the custom strategy's ``escalate`` or ``deescalate`` for the requested target."""
    strategy_class = find_strategy(impl)
    if strategy_class is None:
        raise HandlerNotFound("impl.py defines no AccessStrategy subclass")
    strategy = event.flow.strategy
    integration = (strategy.integration if strategy else None) or Integration(
        "custom", external_id=event.flow.srn.slug
    )
    target = event.payload.fields.get("target")
    if not isinstance(target, AccessTarget):
        raise SDKError("MISSING_TARGET", "the request names no target (its 'target' field)")
    target_id = str(target.settings.get("identifier") or target.name)
    output = getattr(strategy_class(integration), step)(target_id, event)
    return Answer(None, _wire.step_output(f"{strategy_class.__name__}.{step}", output))


def run(impl_path: str, name: str, document: dict[str, Any]) -> Answer:
    """Answer harness request ``name`` for the flow at ``impl_path``."""
    set_document(document)
    if name == "describe":
        return Answer(describe(load_impl(impl_path)))
    event = event_from(document)
    impl = load_impl(impl_path)
    kind, _, argument = name.partition(":")
    if kind == "strategy" and argument in STRATEGY_STEPS:
        return run_strategy(impl, argument, event)
    if kind == "prefetch" and argument:
        return Answer(_wire.options(name, _prefetch(impl, argument)(event)))
    if name in REDUCER_NAMES:
        return Answer(_wire.REDUCERS[name](name, _handler(impl, name, "reducer")(event)))
    if name in HOOK_NAMES:
        return Answer(_wire.directive(name, _handler(impl, name, "hook")(event)))
    raise HandlerNotFound(f"{name!r} is not a hook, reducer, prefetch:<field> or strategy step")
