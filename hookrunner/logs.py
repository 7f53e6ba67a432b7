"""structlog set-up: one event per line, with secrets scrubbed before anything is rendered."""

from __future__ import annotations

import logging
import re
import sys
import threading
import time
from collections.abc import MutableMapping
from typing import Any

import structlog

from hookrunner import metrics

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


class RepeatLimiter:
    """Lets ``burst`` warnings or errors of one kind through per ``window`` seconds and
    counts the rest, so a flood of identical errors cannot fill the disk.

    The count is reported on the next line of that kind, or by :meth:`flush`.
    """

    def __init__(self, burst: int = 5, window: float = 10.0) -> None:
        self.burst = burst
        self.window = window
        self._lock = threading.Lock()
        self._seen: dict[str, tuple[float, int, int]] = {}  # key → window start, let, held

    def admit(self, key: str, now: float | None = None) -> tuple[bool, int]:
        """Whether to write this line, and how many of its kind were held back before it."""
        now = time.monotonic() if now is None else now
        with self._lock:
            start, let, held = self._seen.get(key, (now, 0, 0))
            if now - start >= self.window:
                start, let = now, 0
            if let < self.burst:
                self._seen[key] = (start, let + 1, 0)
                return True, held
            self._seen[key] = (start, let, held + 1)
        metrics.LOG_LINES_SUPPRESSED.inc()
        return False, 0

    def flush(self) -> dict[str, int]:
        """Take the counts held back so far (to be reported), per kind."""
        with self._lock:
            held = {key: entry[2] for key, entry in self._seen.items() if entry[2]}
            self._seen = {k: (v[0], v[1], 0) for k, v in self._seen.items()}
        return held


REPEATS = RepeatLimiter()
_LIMITED_LEVELS = frozenset({"warning", "error", "critical", "exception"})


def limit_repeats(
    _logger: Any, method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """structlog processor: warnings and errors go through :data:`REPEATS`."""
    if method not in _LIMITED_LEVELS or event_dict.get("repeated_lines_held"):
        return event_dict
    key = str(event_dict.get("event", "")).split("\n", 1)[0][:200]
    admitted, held = REPEATS.admit(key)
    if not admitted:
        raise structlog.DropEvent
    if held:
        event_dict["repeated_lines_held"] = held
    return event_dict


def report_held_repeats() -> None:
    """Write one line per kind of warning or error that was held back since the last one."""
    for kind, held in REPEATS.flush().items():
        structlog.get_logger("hookrunner.logs").warning(
            "log_lines_held", kind=kind, repeated_lines_held=held
        )


class _ToStructlog(logging.Handler):
    """Routes the standard library's records (asyncio, uvicorn) through structlog, so
    they are redacted, rate-limited and one line each like everything else."""

    def emit(self, record: logging.LogRecord) -> None:
        logger = structlog.get_logger(record.name)
        message = record.getMessage()
        logger.log(record.levelno, message, logger_name=record.name, exc_info=record.exc_info)


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
            limit_repeats,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,  # before redaction: tracebacks hold URLs too
            redact_secrets,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=True,
    )
    logging.basicConfig(handlers=[_ToStructlog()], level=logging.WARNING, force=True)
