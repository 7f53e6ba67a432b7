"""Removes the grant; hookrunner retries until this succeeds."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "hoop-hooks"))

from runbooklib import flow_event, revoke  # noqa: E402

sys.exit(revoke(flow_event()))
