"""structlog set-up: one event per line, with secrets scrubbed before anything is rendered."""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import MutableMapping
from typing import Any

import structlog

REDACTED = "[redacted]"
SECRET_KEY = re.compile(r"(token|secret|password|passphrase|authorization|signature|api_key)", re.I)
# Everything between ``scheme://`` and the last ``@`` of the same word: the userinfo, even
# when a token or password holds ``/``, ``:`` or ``@``. A path with an ``@`` in it is
# hidden too; showing too little is the safe side.
_URL_USERINFO = re.compile(r"(?P<scheme>\b[a-z][a-z0-9+.-]*://)[^\s'\"<>]*@", re.I)


def redact_url(text: str) -> str:
    """Hide the userinfo (user, token or password) of every URL in ``text``."""
    return _URL_USERINFO.sub(lambda m: f"{m['scheme']}{REDACTED}@", text)


def _scrub(key: str, value: Any) -> Any:
    if SECRET_KEY.search(key):
        return REDACTED if value else value
    if key == "connection_envs" and isinstance(value, dict):
        return dict.fromkeys(value, REDACTED)
    if isinstance(value, str):
        return redact_url(value)
    if isinstance(value, dict):
        return {k: _scrub(str(k), v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_scrub("", item) for item in value]
    return value


def redact_secrets(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """structlog processor: no secret value survives into a rendered line."""
    for key, value in list(event_dict.items()):
        event_dict[key] = _scrub(key, value)
    return event_dict


def configure_logging(log_format: str = "auto", level: str = "info") -> None:
    """Log to stderr as JSON lines, or human-readable when ``auto`` sees a terminal."""
    use_console = log_format == "console" or (log_format == "auto" and sys.stderr.isatty())
    renderer: Any = (
        structlog.dev.ConsoleRenderer(colors=False)
        if use_console
        else structlog.processors.JSONRenderer()
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,  # before redaction: tracebacks hold URLs too
            redact_secrets,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=True,
    )
