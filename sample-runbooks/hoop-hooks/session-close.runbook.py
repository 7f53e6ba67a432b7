"""Runs when a session closes: records how it ended."""

from audit import audit_line, load_event

event = load_event()
closed = event["event_session_close"]
print(audit_line("session-close", event, exit_code=closed["exit_code"]))
