"""Runs when a session opens: an audit line, and a chat message for sensitive connections.

NOTIFY_URL: chat webhook. NOTIFY_CONNECTIONS: glob of connection names worth a message
(default ``prod-*``).
"""

import fnmatch
import os
import sys
from pathlib import Path

# The hook's own directory, whatever the working directory: runbooklib sits beside it.
sys.path.insert(0, str(Path(__file__).resolve().parent))

from runbooklib import EX_OK, audit_line, load_event, notify  # noqa: E402

event = load_event()
opened = event["event_session_open"]
print(audit_line("session-open", event, user=opened["user_email"],
                 connection=opened["connection_name"], verb=opened["verb"]))

pattern = os.environ.get("NOTIFY_CONNECTIONS", "prod-*")
if fnmatch.fnmatch(opened["connection_name"], pattern):
    reviewers = ", ".join(opened["connection_reviewers"]) or "nobody"
    text = (f"{opened['user_email']} opened a {opened['verb']} session on"
            f" {opened['connection_name']} (reviewers: {reviewers})")
    sys.exit(notify(text))
sys.exit(EX_OK)
