"""The forking interpreter runs under the hook's interpreter: any Python 3.9+, which need
not have hookrunner installed. It and what it preloads are the standard library only."""

from __future__ import annotations

import ast
import json
import os
import sys
from pathlib import Path
from typing import Any

import pytest

from hookrunner.execution import IsolationUnavailable, forkserver
from hookrunner.execution.cgroups import CgroupTree, RunCgroup
from hookrunner.execution.warm import FORKSERVER


def test_it_parses_as_python_3_9_and_imports_only_the_standard_library() -> None:
    tree = ast.parse(FORKSERVER.read_text(), feature_version=(3, 9))
    imported = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    imported |= {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
    imported |= set(forkserver.PRELOAD)
    roots = {name.split(".")[0] for name in imported}
    assert roots <= set(sys.stdlib_module_names) | {"__future__"}, roots


def _fork_and_report(request: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """Fork through the forking interpreter's ``_fork`` here, with a child that reports
    its cgroups and the files it was told to enter instead of running a hook."""
    read, write = os.pipe()

    def child(request: dict[str, Any], fds: list[int]) -> None:
        report = {"enter": request["cgroups"], "cgroup": Path("/proc/self/cgroup").read_text()}
        os.write(write, json.dumps(report).encode())
        os._exit(0)

    monkeypatch.setattr(forkserver, "_child", child)
    try:
        pid = forkserver._fork(request, [])
    finally:
        os.close(write)
    assert pid is not None
    with os.fdopen(read, "rb") as reader:
        report: dict[str, Any] = json.loads(reader.read())
    os.waitpid(pid, 0)
    return report


@pytest.mark.parametrize("born_there", [True, False])
def test_a_child_is_born_in_the_runs_v2_leaf_or_enters_it(
    born_there: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    try:
        tree = CgroupTree.setup()
    except IsolationUnavailable as exc:
        pytest.skip(f"needs a writable cgroup v2 tree: {exc}")
    leaf = RunCgroup.create(tree, None)
    try:
        if not born_there:  # as on a kernel before 5.7, or a C library other than glibc
            monkeypatch.setattr(forkserver, "_clone3", [None])
        elif forkserver._load_clone3() is None:
            pytest.skip("no clone3 for this process here")
        report = _fork_and_report(
            {"cgroups": leaf.v1_procs(), "cgroup": str(leaf.path)}, monkeypatch
        )
    finally:
        leaf.remove()
        tree.close()
    v2 = next(line[3:] for line in report["cgroup"].splitlines() if line.startswith("0::"))
    procs = str(leaf.path / "cgroup.procs")
    if born_there:
        assert v2.endswith("/" + leaf.path.name) and procs not in report["enter"], report
    else:
        assert report["enter"] == [*leaf.v1_procs(), procs], report
