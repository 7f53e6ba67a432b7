"""The executor's one error: an isolation feature the settings ask for cannot work here."""

from __future__ import annotations


class IsolationUnavailable(Exception):
    """A sandbox or cgroup cannot be set up; the message says why in one line."""
