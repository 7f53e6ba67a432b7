"""Grants the flow's role through the access API (ACCESS_API_URL, ACCESS_API_TOKEN)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "hoop-hooks"))

from runbooklib import flow_event, grant  # noqa: E402

sys.exit(grant(flow_event()))
