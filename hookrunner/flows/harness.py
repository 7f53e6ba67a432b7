"""Runs one hook or reducer of a flow's ``impl.py``; the executor starts it as a script.

Usage: ``<interpreter> harness.py <impl.py> <name>``, with the event as JSON in
``HOOKRUNNER_FLOW_EVENT``. The answer is written as JSON to the private file named by
``HOOKRUNNER_FLOW_RESULT``, never to stdout, so whatever the hook prints cannot corrupt
it. Standard library only, Python 3.9 compatible: it runs under the hook interpreter,
which need not have hookrunner installed.
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
import traceback
import types
from pathlib import Path
from typing import Any

EVENT_ENV = "HOOKRUNNER_FLOW_EVENT"
RESULT_ENV = "HOOKRUNNER_FLOW_RESULT"
SDK_PATH = Path(__file__).resolve().parent.parent / "sdk.py"


def _module(name: str, **attributes: Any) -> types.ModuleType:
    module = types.ModuleType(name)
    module.__dict__.update(attributes)
    module.__path__ = []  # a package, so submodules import
    sys.modules[name] = module
    return module


def _load_file(name: str, path: Path) -> types.ModuleType:
    """Import the file at ``path`` as module ``name``, registered before it runs."""
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def load_sdk() -> types.ModuleType:
    """``hookrunner.sdk`` from beside this file, plus the ``sym.sdk`` names Sym flows use."""
    sdk = _load_file("hookrunner.sdk", SDK_PATH)
    if "hookrunner" not in sys.modules:
        _module("hookrunner", sdk=sdk)
    annotations = _module("sym.sdk.annotations", hook=sdk.hook, reducer=sdk.reducer)
    templates = _module("sym.sdk.templates", ApprovalTemplate=sdk.ApprovalTemplate)
    events = _module("sym.sdk.events", Event=sdk.Event)
    user = _module("sym.sdk.user", User=sdk.User)
    package = _module(
        "sym.sdk", annotations=annotations, templates=templates, events=events, user=user
    )
    _module("sym", sdk=package)
    return sdk


def load_impl(path: Path) -> types.ModuleType:
    # The flow's directory replaces the harness's own on sys.path: sibling imports work
    # and hookrunner's internals stay out of reach.
    sys.path[0] = str(path.parent)
    return _load_file("impl", path)


def call(sdk: types.ModuleType, impl: types.ModuleType, name: str, event: Any) -> Any:
    """Call hook or reducer ``name`` and turn its answer into JSON-ready data."""
    function = getattr(impl, name, None)
    kind = getattr(function, sdk.MARKER, None)
    if kind is None:
        raise LookupError(f"impl.py has no @hook or @reducer named {name}")
    value = function(event)  # type: ignore[misc]
    if kind == "reducer":
        return sdk.emails(value) if name == "get_approvers" else value
    if value is None or isinstance(value, sdk.Directive):
        return value.to_dict() if value is not None else None
    raise TypeError(
        f"{name} returned {type(value).__name__}; a hook returns None or an ApprovalTemplate"
    )


def main(argv: list[str]) -> int:
    result: dict[str, Any]
    code = 0
    try:
        if len(argv) != 3:
            raise SystemExit("usage: harness.py IMPL.py NAME")
        sdk = load_sdk()
        event = sdk.Event(json.loads(os.environ.get(EVENT_ENV) or "{}"))
        impl = load_impl(Path(argv[1]))
        result = {"ok": True, "value": call(sdk, impl, argv[2], event)}
    except BaseException as exc:  # the hook's failure is the answer, whatever it was
        traceback.print_exc()
        result = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
        code = 1
    result_path = os.environ.get(RESULT_ENV)
    if result_path:
        with open(result_path, "w", encoding="utf-8") as handle:
            json.dump(result, handle, default=str)
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv))
