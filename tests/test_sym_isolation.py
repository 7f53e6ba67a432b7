"""An installed ``sym`` package (sym-sdk, or anything named so) cannot shadow hookrunner's."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from sym_harness import FLOWS, event_document, run_harness

DECOY = """\
raise ImportError("the decoy sym package was imported")
"""
DECOY_SDK = """\
def hook(fn):
    return None  # sym-sdk 0.61.0 returns fn; a broken copy must not matter either
"""


@pytest.fixture(scope="module")
def decoy_python(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A throw-away venv whose site-packages holds a decoy ``sym`` and imports it at start-up."""
    venv = tmp_path_factory.mktemp("decoy") / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin/python3"
    site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    package = Path(site) / "sym"
    (package / "sdk").mkdir(parents=True)
    (package / "__init__.py").write_text("initialized = True\n")
    (package / "sdk/__init__.py").write_text(DECOY_SDK)
    (package / "sdk/annotations.py").write_text(DECOY)
    # Like a .pth of an installed distribution: the decoy is in sys.modules before the harness.
    (Path(site) / "decoy.pth").write_text("import sym.sdk\n")
    probe = subprocess.run(
        [str(python), "-c", "import sys; print(sys.modules['sym.sdk'].__file__)"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert probe.stdout.startswith(site), "the decoy is not what this interpreter imports"
    return str(python)


def test_a_decoy_sym_package_cannot_shadow_the_runtime(decoy_python: str, tmp_path: Path) -> None:
    impl = FLOWS / "policy/impl.py"
    own = run_harness(impl, "describe", None, tmp_path).result
    assert run_harness(impl, "describe", None, tmp_path, decoy_python).result == own
    event = event_document(impl.parent, "approve", "boss@acme.io", {"minutes": 10, "urgent": False})
    answer = run_harness(impl, "get_approvers", event, tmp_path, decoy_python)
    assert answer.value == {"users": ["lead@acme.io", "second@acme.io"]}


def test_legacy_names_resolve_to_the_runtime_under_a_decoy(
    decoy_python: str, tmp_path: Path
) -> None:
    impl = FLOWS / "legacy_imports/impl.py"
    event = event_document(impl.parent, "request", "dev@acme.io")
    assert run_harness(impl, "get_approvers", event, tmp_path, decoy_python).value == {
        "destination": {"type": "slack_channel", "name": "#legacy", "allow_self": False,
                        "timeout": None},
    }  # fmt: skip


PROBE_IMPL = """\
import importlib

from sym.sdk.annotations import hook
from sym.sdk.templates import ApprovalTemplate


def reachable(name):
    try:
        importlib.import_module(name)
    except ImportError:
        return False
    return True


@hook
def on_request(event):
    import hookrunner.sdk
    import sym.sdk

    return ApprovalTemplate.ignore(
        message="probe",
        internals=[reachable(name) for name in ("hookrunner.flows.engine", "hookrunner.config",
                                                  "engine", "runner", "harness")],
        same=[hookrunner.sdk.User is sym.sdk.User, hookrunner.sdk.hook is hook],
    )
"""


def test_a_hook_reaches_the_sdk_but_not_hookrunners_internals(tmp_path: Path) -> None:
    flow = tmp_path / "probe"
    flow.mkdir()
    (flow / "impl.py").write_text(PROBE_IMPL)
    event = event_document(flow, "request", "dev@acme.io")
    fields = run_harness(flow / "impl.py", "on_request", event, tmp_path).value["fields"]
    assert fields == {"internals": [False] * 5, "same": [True, True]}
