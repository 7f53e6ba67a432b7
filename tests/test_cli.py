"""``hookrunner dry-run`` and ``validate`` as an author runs them: a real process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from conftest import WorkRepo

HOOKRUNNER = [sys.executable, "-m", "hookrunner"]


def run(
    *args: str, cwd: Path | None = None, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOOKRUNNER_")}
    return subprocess.run(
        [*HOOKRUNNER, *args],
        cwd=cwd,
        input=stdin,
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )


def test_dry_run_on_a_dirty_working_tree(work_repo: WorkRepo) -> None:
    source = "import os\nprint('uncommitted', os.environ['HOOKRUNNER_COMMIT'])\n"
    work_repo.write({"hoop-hooks/session-open.runbook.py": source})
    result = run("dry-run", "session-open", "--repo", str(work_repo.work), "--json")
    assert result.returncode == 0, result.stderr
    record = json.loads(result.stdout)
    assert record["status"] == "succeeded"
    assert record["stdout"].startswith("uncommitted ")
    assert record["commit"].endswith("-dirty")
    assert set(record) == {
        "run_id", "event_id", "hook", "commit", "attempt", "status", "exit_code",
        "stdout", "stderr", "truncated", "started_at", "duration_s", "peak_memory_bytes",
        "cpu_s",
    }  # fmt: skip


def test_dry_run_from_a_file_url_with_payload_on_stdin(work_repo: WorkRepo) -> None:
    payload = json.dumps({"sid": "from-stdin", "connection_name": "pg"})
    result = run(
        "dry-run", "session-open", "--repo", f"file://{work_repo.bare}", "--payload", "-", "--json",
        stdin=payload,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    printed = json.loads(json.loads(result.stdout)["stdout"])
    assert printed == {"version": 1, "sid": "from-stdin", "commit": printed["commit"]}
    assert len(printed["commit"]) == 40


def test_failing_hook_exits_one(tmp_path: Path) -> None:
    (tmp_path / "hoop-hooks").mkdir()
    (tmp_path / "hoop-hooks/session-close.runbook.py").write_text("raise SystemExit(4)\n")
    result = run("dry-run", "session-close", "--repo", str(tmp_path), "--exit-code", "1")
    assert result.returncode == 1
    assert "failed (exit 4" in result.stderr


def test_bad_input_is_one_line_and_exit_two(tmp_path: Path) -> None:
    bad_json = run(
        "dry-run", "session-open", "--repo", str(tmp_path), "--payload", "-", stdin="{nope"
    )
    assert bad_json.returncode == 2 and bad_json.stderr.count("\n") == 1
    assert "--payload: not valid JSON" in bad_json.stderr
    no_repo = run("dry-run", "session-open", "--repo", str(tmp_path / "absent"))
    assert no_repo.returncode == 2 and "--repo" in no_repo.stderr
    bad_config = tmp_path / "bad.toml"
    bad_config.write_text("[executor]\ntimeout = -1\n")
    config = run("dry-run", "session-open", "--config", str(bad_config))
    assert config.returncode == 2 and "executor.timeout" in config.stderr


def test_validate_reports_syntax_errors_and_bad_slugs(tmp_path: Path) -> None:
    (tmp_path / "hoop-hooks").mkdir()
    (tmp_path / "hoop-hooks/session-open.runbook.py").write_text("def broken(:\n")
    (tmp_path / "flows/Bad Slug").mkdir(parents=True)
    result = run("validate", str(tmp_path))
    assert result.returncode == 2
    assert "hoop-hooks/session-open.runbook.py:1: error: syntax error" in result.stderr
    assert "flows/Bad Slug:0: error: slug must match" in result.stderr


def test_validate_passes_a_good_repo(work_repo: WorkRepo) -> None:
    result = run("validate", str(work_repo.work))
    assert result.returncode == 0, result.stderr


def test_dry_run_writes_no_credentials_into_the_authors_tree(work_repo: WorkRepo) -> None:
    config = work_repo.work.parent / "with-secrets.toml"
    config.write_text(
        '[repo]\nusername = "bot"\npassword = "t0ken"\n'
        'ssh_key = "-----BEGIN OPENSSH PRIVATE KEY-----\\nabc\\n"\n'
    )
    result = run("dry-run", "session-open", "--repo", str(work_repo.work), "--config", str(config))
    assert result.returncode == 0, result.stderr
    written = {p.name for p in work_repo.work.rglob("*") if ".git" not in p.parts}
    assert written == {"hoop-hooks", "session-open.runbook.py"}
    assert not (work_repo.work / "askpass.sh").exists()
