"""Runs when a session closes: forwards the event to the SIEM.

SIEM_URL: where to POST (nothing is sent when it is unset). SIEM_TOKEN: bearer token.
Exits 75 when the SIEM answers 5xx or cannot be reached, so hookrunner retries; 1 on
another 4xx, which a retry would not fix.
"""

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from runbooklib import EX_OK, audit_line, load_event, send_json  # noqa: E402

event = load_event()
closed = event["event_session_close"]
print(audit_line("session-close", event, exit_code=closed["exit_code"]))

url = os.environ.get("SIEM_URL", "")
if not url:
    sys.exit(EX_OK)
record = {
    "source": "hoop",
    "type": "session.close",
    "id": event["id"],
    "sid": event["sid"],
    "exit_code": closed["exit_code"],
    "output": closed["output"],
}
sys.exit(send_json("POST", url, record, os.environ.get("SIEM_TOKEN", "")))
