"""Text for people: relative times and aligned tables for the CLI's client commands.

Pure functions from the API's JSON documents to strings, so they are tested without a
terminal; ``--json`` prints the documents themselves.
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from typing import Any

UNITS = ((86400, "d"), (3600, "h"), (60, "min"), (1, "s"))


def ago(at: float | None, now: float) -> str:
    """``"12 s ago"``, ``"3 min ago"``, ``"in 5 min"``; ``"-"`` for no time."""
    if at is None:
        return "-"
    seconds = now - at
    amount, unit = next(
        ((int(abs(seconds) // size), name) for size, name in UNITS if abs(seconds) >= size),
        (0, "s"),
    )
    return f"{amount} {unit} ago" if seconds >= 0 else f"in {amount} {unit}"


def table(rows: Sequence[Sequence[str]], header: Sequence[str] = ()) -> str:
    """Columns padded to their widest cell; the last column is not padded."""
    lines = [list(header), *map(list, rows)] if header else [list(row) for row in rows]
    if not lines:
        return ""
    widths = [max(len(line[i]) for line in lines) for i in range(len(lines[0]) - 1)]
    return "\n".join(
        "  ".join(
            [*(cell.ljust(width) for cell, width in zip(line, widths, strict=False)), line[-1]]
        ).rstrip()
        for line in lines
    )


def short(commit: str | None) -> str:
    return commit[:12] if commit else "-"


def status_text(status: dict[str, Any]) -> str:
    now = status["time"]
    sync = status["last_sync"]
    if sync is None:
        last = "none yet"
    elif sync["ok"]:
        last = f"ok, {ago(sync['at'], now)}"
    else:
        last = f"FAILED {ago(sync['at'], now)}: {sync['error']}"
    rows = [
        ["commit", short(status["commit"])],
        ["last sync", f"{last} (refreshes every {status['ttl']:g} s)"],
    ]
    if status.get("waiting"):
        rows.append(["waiting", status["waiting"]])
    rows += [
        ["runs", f"{status['queue_depth']} queued, {status['running']} running, "
                 f"{status['dead']} dead"],
        ["version", status["version"]],
    ]  # fmt: skip
    return table(rows)


def outcome(run: dict[str, Any]) -> str:
    """The last attempt's outcome, only where it says more than the status."""
    if run["outcome"] is None or run["outcome"] == run["status"]:
        return "-"
    return str(run["outcome"])


def runs_table(runs: Sequence[dict[str, Any]], now: float) -> str:
    rows = [
        [
            run["run_id"],
            run["status"],
            outcome(run),
            str(run["attempt"]),
            ago(run["created_at"], now),
            short(run["commit"]),
            run["hook"],
        ]
        for run in runs
    ]
    return table(rows, ["RUN", "STATUS", "LAST ATTEMPT", "TRIES", "CREATED", "COMMIT", "HOOK"])


def run_text(run: dict[str, Any], now: float) -> str:
    """One run with its output (``runs show``, ``send --wait``)."""
    state = run["status"]
    if outcome(run) != "-":
        state += f" (last attempt {run['outcome']})"
    if run["exit_code"] is not None:
        state += f", exit {run['exit_code']}"
    took = "" if run["duration_s"] is None else f", took {run['duration_s']:.2f} s"
    rows = [
        ["run", run["run_id"]],
        ["hook", run["hook"]],
        ["status", state],
        ["attempts", str(run["attempt"])],
        ["commit", short(run["commit"])],
        ["created", f"{ago(run['created_at'], now)}{took}"],
        ["event", run["event_id"]],
    ]
    if run.get("replay_of"):
        rows.append(["replays", run["replay_of"]])
    if run["status"] == "queued" and run["attempt"]:
        rows.append(["next try", ago(run["next_attempt_at"], now)])
    text = table(rows)
    for name in ("stdout", "stderr"):
        if run[name]:
            note = " (truncated)" if run["truncated"] else ""
            text += f"\n{name}{note}:\n" + textwrap.indent(run[name].rstrip("\n"), "  | ")
    return text
