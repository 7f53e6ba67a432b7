"""``validate`` warns where hoop would read a session hook differently: Go template actions."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

TEMPLATED_HOOK = """\
import json, os
payload = json.loads(os.environ["HOOP_RUNBOOK_HOOK_PAYLOAD"])
user = payload["event_session_open"]["user_email"]
print(f"{{user}} opened {user!r}")
"""
PLAIN_HOOK = """\
import json, os
print({"seen": json.loads(os.environ["HOOP_RUNBOOK_HOOK_PAYLOAD"])["sid"]})
"""


def validate(root: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HOOKRUNNER_", "GIT_"))}
    return subprocess.run(
        [sys.executable, "-m", "hookrunner", "validate", str(root)],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )


def write_hooks(root: Path, files: dict[str, str]) -> None:
    (root / "hoop-hooks").mkdir(parents=True)
    for name, text in files.items():
        (root / "hoop-hooks" / name).write_text(text)


def test_braces_in_a_session_hook_are_a_warning_naming_the_line(tmp_path: Path) -> None:
    write_hooks(
        tmp_path,
        {"session-open.runbook.py": TEMPLATED_HOOK, "session-close.runbook.py": PLAIN_HOOK},
    )
    result = validate(tmp_path)
    assert result.returncode == 0, result.stderr
    warnings = [line for line in result.stderr.splitlines() if "Go template" in line]
    assert len(warnings) == 1
    assert warnings[0].startswith("hoop-hooks/session-open.runbook.py:4: warning: '{{'")
    assert "0 error(s), 1 warning(s)" in result.stderr


def test_braces_warn_beside_errors_without_changing_the_exit_code(tmp_path: Path) -> None:
    write_hooks(tmp_path, {"session-close.runbook.py": "x = '{{ .sid }}'\ndef broken(:\n"})
    result = validate(tmp_path)
    assert result.returncode == 2
    assert "session-close.runbook.py:1: warning: '{{'" in result.stderr
    assert "session-close.runbook.py:2: error: syntax error" in result.stderr


def test_single_braces_are_not_templates(tmp_path: Path) -> None:
    write_hooks(tmp_path, {"session-close.runbook.py": PLAIN_HOOK})
    result = validate(tmp_path)
    assert result.returncode == 0, result.stderr
    assert "Go template" not in result.stderr
    assert "0 error(s), 0 warning(s)" in result.stderr
