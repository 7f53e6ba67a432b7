"""Runs one handler of a flow's ``impl.py``; the executor starts it as a script.

Usage: ``<interpreter> harness.py <impl.py> <name>``, with the event as JSON in
``HOOKRUNNER_FLOW_EVENT``. The answer is written as JSON to the private file named by
``HOOKRUNNER_FLOW_RESULT``, never to stdout, so whatever the hook prints cannot corrupt
it; a custom strategy's step output goes to ``HOOKRUNNER_STEP_OUTPUT``. Standard
library only, Python 3.9 compatible: it runs under the hook interpreter, which need not
have hookrunner installed. The ``sym`` tree beside this file is loaded as ``sym`` (and
as ``hookrunner.sdk``) ahead of anything the interpreter has installed.
"""

from __future__ import annotations

import sys

# Before anything is imported: no __pycache__ in a snapshot or an author's tree.
sys.dont_write_bytecode = True

import importlib  # noqa: E402
import importlib.util  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import types  # noqa: E402
from typing import Any  # noqa: E402

EVENT_ENV = "HOOKRUNNER_FLOW_EVENT"
RESULT_ENV = "HOOKRUNNER_FLOW_RESULT"
STEP_OUTPUT_ENV = "HOOKRUNNER_STEP_OUTPUT"
HERE = os.path.dirname(os.path.realpath(__file__))
TREE = os.path.join(HERE, "sym")


class UsageError(Exception):
    """The harness was started with the wrong arguments or event."""


def load_tree() -> types.ModuleType:
    """Import the ``sym`` tree as ``sym``, replacing any ``sym`` already imported."""
    loaded = sys.modules.get("sym")
    if getattr(loaded, PRELOADED_MARK, False):  # warm mode: forked with the tree loaded
        return loaded  # type: ignore[return-value]
    for name in [name for name in sys.modules if name == "sym" or name.startswith("sym.")]:
        del sys.modules[name]
    spec = importlib.util.spec_from_file_location(
        "sym", os.path.join(TREE, "__init__.py"), submodule_search_locations=[TREE]
    )
    if spec is None or spec.loader is None:
        raise UsageError(f"cannot load the sym tree at {TREE}")
    tree = importlib.util.module_from_spec(spec)
    sys.modules["sym"] = tree
    spec.loader.exec_module(tree)
    # hookrunner.sdk is the same objects; the real hookrunner package stays out of reach.
    native = importlib.import_module("sym._native")
    package = types.ModuleType("hookrunner")
    package.__path__ = []
    package.sdk = native  # type: ignore[attr-defined]
    sys.modules["hookrunner"] = package
    sys.modules["hookrunner.sdk"] = native
    return tree


# Warm mode (execution/warm.py): the forking interpreter calls preload() once, and
# every flow hook it forks finds the tree loaded.
PRELOADED_MARK = "__hookrunner_preloaded__"


def preload() -> None:
    setattr(load_tree(), PRELOADED_MARK, True)
    importlib.import_module("sym._dispatch")


def answer(argv: list[str], document_text: str) -> tuple[dict[str, Any], Any]:
    """The result document and the step output (``None`` unless a strategy step ran)."""
    if len(argv) != 3:
        raise UsageError("usage: harness.py IMPL.py NAME")
    document = json.loads(document_text or "{}")
    if not isinstance(document, dict):
        raise UsageError(f"{EVENT_ENV} must hold a JSON object")
    load_tree()
    # hookrunner's internals stay out of reach: the harness's own directory leaves
    # sys.path, and load_impl puts the flow's directory first.
    sys.path[:] = [entry for entry in sys.path if os.path.realpath(entry or ".") != HERE]
    dispatch = importlib.import_module("sym._dispatch")
    result = dispatch.run(argv[1], argv[2], document)
    return {"ok": True, "value": result.value}, result.step_output


def _write(path: str | None, data: Any) -> None:
    if path:
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(json.dumps(data, allow_nan=False))


def main(argv: list[str]) -> int:
    try:
        result, step_output = answer(argv, os.environ.get(EVENT_ENV) or "")
        text = json.dumps(result, allow_nan=False)
        _write(os.environ.get(STEP_OUTPUT_ENV) if step_output is not None else None, step_output)
        code = 0
    except BaseException as exc:  # the handler's failure is the answer, whatever it was
        import traceback  # only a failure pays for it

        traceback.print_exc()
        text = json.dumps({"ok": False, "error": f"{type(exc).__name__}: {exc}"}, default=str)
        code = 1
    result_path = os.environ.get(RESULT_ENV)
    if result_path:
        with open(result_path, "w", encoding="utf-8") as handle:
            handle.write(text)
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv))
