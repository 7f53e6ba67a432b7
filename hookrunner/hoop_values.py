"""hoop's ``GIT_*`` values as hoop reads them: plain, or base64 as its plugin config stores them.

hoop's runbooks plugin keeps every value base64-encoded and decodes it before use (its
``GIT_SSH_KNOWN_HOSTS`` falls back to the value as given when it is not base64). A
gateway's environment may hold either form, so a value is decoded when it is valid
standard base64 (padded; line breaks ignored, as Go's decoder ignores them) of valid
UTF-8 text that then makes sense for its name; otherwise it is used as given. The
``HOOKRUNNER_REPO__*`` names are never decoded, for the rare plain value that would.
"""

from __future__ import annotations

import base64
import binascii
import math
import re
from collections.abc import Callable

PEM_MARKERS = ("-----BEGIN ", "PRIVATE KEY-----")
KEY_TYPE = re.compile(r"(ssh|ecdsa|sk)-[A-Za-z0-9@._+-]+")


class HoopValueError(ValueError):
    """A ``GIT_*`` value that means nothing for its name, plain or decoded."""


def _printable(text: str) -> bool:
    return bool(text) and text.isprintable()


def _name(text: str) -> bool:
    """A user name: one printable word."""
    return _printable(text) and not any(c.isspace() for c in text)


def _location(text: str) -> bool:
    """A URL, an scp-style address or a path: one printable word with ``:`` or ``/``."""
    return _name(text) and (":" in text or "/" in text)


def is_private_key(text: str) -> bool:
    return all(marker in text for marker in PEM_MARKERS)


def _known_hosts_entry(line: str) -> bool:
    """``[@marker] hosts keytype base64-key [comment]``, as sshd(8) describes the file."""
    fields = line.split()
    if fields and fields[0].startswith("@"):
        fields = fields[1:]
    return (
        len(fields) >= 3
        and KEY_TYPE.fullmatch(fields[1]) is not None
        and _base64_bytes(fields[2]) is not None
    )


def is_known_hosts(text: str) -> bool:
    """known_hosts lines; comments and blank lines allowed."""
    lines = [line.strip() for line in text.splitlines()]
    entries = [line for line in lines if line and not line.startswith("#")]
    return bool(entries) and all(
        line.isprintable() and _known_hosts_entry(line) for line in entries
    )


def is_seconds(text: str) -> bool:
    try:
        value = float(text)
    except ValueError:
        return False
    return math.isfinite(value) and value >= 0


# What a decoded value must be for its name; a plain value failing it is an error only
# where ``REQUIRED`` says the name has one meaning whatever the form.
CHECKS: dict[str, Callable[[str], bool]] = {
    "GIT_URL": _location,
    "GIT_USER": _name,
    "GIT_PASSWORD": _printable,
    "GIT_SSH_KEY": is_private_key,
    "GIT_SSH_USER": _name,
    "GIT_SSH_KEYPASS": _printable,
    "GIT_SSH_KNOWN_HOSTS": is_known_hosts,
    "GIT_HOOK_CONFIG_TTL": is_seconds,
}
REQUIRED = {
    "GIT_SSH_KNOWN_HOSTS": "must be known_hosts content (lines of: host keytype key), "
    "plain or base64-encoded; for a file use HOOKRUNNER_REPO__KNOWN_HOSTS_FILE",
    "GIT_HOOK_CONFIG_TTL": "must be a number of seconds, plain or base64-encoded",
}


def _base64_bytes(raw: str) -> bytes | None:
    try:
        return base64.b64decode(raw, validate=True)
    except (binascii.Error, ValueError):
        return None


def _base64_text(raw: str) -> str | None:
    decoded = _base64_bytes(raw.replace("\r", "").replace("\n", ""))
    try:
        return None if decoded is None else decoded.decode("utf-8")
    except UnicodeDecodeError:
        return None


def hoop_value(name: str, raw: str) -> str:
    """The value ``name`` means: decoded when it is base64 of a sensible value, else ``raw``."""
    check = CHECKS[name]
    decoded = _base64_text(raw)
    if decoded is not None and check(decoded):
        return decoded
    if name in REQUIRED and not check(raw):
        raise HoopValueError(f"{name}: {REQUIRED[name]}")
    return raw
