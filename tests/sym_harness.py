"""Runs the real harness over the Sym-style flows of ``tests/sym_flows``, as the executor does."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any, NamedTuple

from hookrunner.flows.harness import EVENT_ENV, RESULT_ENV, STEP_OUTPUT_ENV
from hookrunner.flows.runner import HARNESS

FLOWS = Path(__file__).with_name("sym_flows")


class HarnessRun(NamedTuple):
    completed: subprocess.CompletedProcess[str]
    result: dict[str, Any]
    step_output: dict[str, Any] | None

    @property
    def value(self) -> Any:
        assert self.result.get("ok") is True, self.result
        return self.result["value"]

    @property
    def error(self) -> str:
        assert self.result.get("ok") is False, self.result
        return str(self.result["error"])


def flow_document(flow: Path) -> dict[str, Any]:
    """The ``flow`` part of the event document, from the flow's ``flow.toml``."""
    toml_path = flow / "flow.toml"
    settings = tomllib.loads(toml_path.read_text()) if toml_path.exists() else {}
    integrations = {
        name: {"type": name, "external_id": f"{name}-1", "settings": {}}
        for name in settings.get("integrations", [])
    }
    targets = settings.get("targets", [])
    return {
        "srn": f"hookrunner:flow:{flow.name.replace('_', '-')}:latest",
        "slug": flow.name.replace("_", "-"),
        "fields": [
            {
                "label": None,
                "required": False,
                "allowed_values": [],
                "default": None,
                "prefetch": False,
                **field,
            }
            for field in settings.get("fields", [])
        ],
        "targets": targets,
        "vars": settings.get("vars", {}),
        "strategy": {
            "type": settings.get("strategy", "runbook"),
            "targets": [target["name"] for target in targets],
        },
        "environment": {"name": "hookrunner", "integrations": integrations},
        "allow_revoke": settings.get("allow_revoke", True),
    }


def event_document(
    flow: Path,
    name: str,
    user: str,
    fields: dict[str, Any] | None = None,
    requester: str = "dev@acme.io",
    **extra: Any,
) -> dict[str, Any]:
    """A contract-shaped event document for event ``name`` fired by ``user``."""
    slug = flow.name.replace("_", "-")
    timestamp = "2026-11-21T20:00:00+00:00"
    actors = {"request": {"email": requester}}
    if name not in ("prompt", "request"):
        actors[name] = {"email": user}
    return {
        "name": name,
        "timestamp": timestamp,
        "user": {"email": user, "role": "member"},
        "channel": {"type": "api", "identifier": None},
        "flow": flow_document(flow),
        "payload": {
            "srn": f"hookrunner:access_request:{slug}:latest:req-1",
            "timestamp": timestamp,
            "user": {"email": requester, "role": "member"},
            "fields": dict(fields or {}),
        },
        "request": {"id": "req-1", "flow": slug, "state": "pending"},
        "actors": actors,
        "step_outputs": {},
        **extra,
    }


def run_harness(
    impl: Path,
    name: str,
    event: dict[str, Any] | None,
    tmp_path: Path,
    interpreter: str = sys.executable,
) -> HarnessRun:
    """``<interpreter> harness.py impl.py NAME`` with the event and a private result file."""
    result_file = tmp_path / "result.json"
    step_file = tmp_path / "step-output.json"
    result_file.write_text("")
    step_file.unlink(missing_ok=True)
    completed = subprocess.run(
        [interpreter, str(HARNESS), str(impl), name],
        env={
            "PATH": os.environ["PATH"],
            EVENT_ENV: json.dumps(event or {}),
            RESULT_ENV: str(result_file),
            STEP_OUTPUT_ENV: str(step_file),
        },
        cwd=impl.parent,
        capture_output=True,
        text=True,
        timeout=60,
    )
    step_output = json.loads(step_file.read_text()) if step_file.exists() else None
    return HarnessRun(completed, json.loads(result_file.read_text()), step_output)
