"""Runs when a session opens: records who connected where."""

from audit import audit_line, load_event

event = load_event()
opened = event["event_session_open"]
print(
    audit_line(
        "session-open",
        event,
        user=opened["user_email"],
        connection=opened["connection_name"],
        verb=opened["verb"],
    )
)
