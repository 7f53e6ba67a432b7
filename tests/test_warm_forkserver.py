"""The forking interpreter runs under the hook's interpreter: any Python 3.9+, which need
not have hookrunner installed. It and what it preloads are the standard library only."""

from __future__ import annotations

import ast
import sys

from hookrunner.execution import forkserver
from hookrunner.execution.warm import FORKSERVER


def test_it_parses_as_python_3_9_and_imports_only_the_standard_library() -> None:
    tree = ast.parse(FORKSERVER.read_text(), feature_version=(3, 9))
    imported = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    imported |= {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
    imported |= set(forkserver.PRELOAD)
    roots = {name.split(".")[0] for name in imported}
    assert roots <= set(sys.stdlib_module_names) | {"__future__"}, roots
