"""The forking interpreter runs under the hook's interpreter: any Python 3.9+, which need
not have hookrunner installed. It and what it preloads are the standard library only."""

from __future__ import annotations

import ast
import json
import subprocess
import sys

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


# Forks through the forking interpreter's ``_fork`` in a fresh (single-threaded) process,
# with a child that reports its cgroups and whether it was told it was born in the leaf.
FORK_AND_REPORT = """
import json, os, sys
from hookrunner.execution import forkserver
leaf, born_there = sys.argv[1], sys.argv[2] == "born"
if not born_there:  # as on a kernel before 5.7, or a C library other than glibc
    forkserver._clone3[:] = [None]
elif forkserver._load_clone3() is None:
    sys.exit(3)
read, write = os.pipe()
def child(data, fds, born):
    report = {"born": born, "cgroup": open("/proc/self/cgroup").read()}
    os.write(write, json.dumps(report).encode())
    os._exit(0)
forkserver._child = child
pid = forkserver._fork(0, [-1, -1, -1, os.open(leaf, os.O_RDONLY | os.O_DIRECTORY)])
os.close(write)
with os.fdopen(read) as reader:
    print(reader.read())
os.waitpid(pid, 0)
"""


@pytest.mark.parametrize("born_there", [True, False])
def test_a_child_is_born_in_the_runs_v2_leaf_or_told_to_enter_it(born_there: bool) -> None:
    try:
        tree = CgroupTree.setup()
    except IsolationUnavailable as exc:
        pytest.skip(f"needs a writable cgroup v2 tree: {exc}")
    leaf = RunCgroup.create(tree, None)
    try:
        forked = subprocess.run(
            [sys.executable, "-c", FORK_AND_REPORT, str(leaf.path),
             "born" if born_there else "enter"],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
    finally:
        leaf.remove()
        tree.close()
    if forked.returncode == 3:
        pytest.skip("no clone3 here (kernel, C library or architecture)")
    assert forked.returncode == 0, forked.stderr
    report = json.loads(forked.stdout)
    v2 = next(line[3:] for line in report["cgroup"].splitlines() if line.startswith("0::"))
    assert report["born"] is born_there, report
    assert v2.endswith("/" + leaf.path.name) is born_there, report
