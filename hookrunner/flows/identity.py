"""Canonical e-mail addresses: the one way people are compared (DESIGN §7).

An address is normalised with Unicode NFKC and case-folded, so a Kelvin sign or a
fullwidth letter is the letter it looks like: a look-alike of the requester IS the
requester. What remains must be a plain ASCII address; anything else (surrounding
whitespace, control characters, Cyrillic look-alikes that NFKC keeps apart) is
refused rather than compared, so no spelling trick makes a second person.
"""

from __future__ import annotations

import fnmatch
import re
import unicodedata

from hookrunner.flows.errors import Invalid

MAX_EMAIL = 254
_LOCAL = r"[a-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[a-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
_EMAIL = re.compile(rf"{_LOCAL}@{_LABEL}(?:\.{_LABEL})+")
_PATTERN = re.compile(r"[a-z0-9!#$%&'*+/=?^_`{|}~.@*\[\]-]+")


def canonical_email(value: str) -> str:
    """The canonical form of ``value``; :class:`Invalid` if it is not a plausible address."""
    if value != value.strip():
        raise Invalid(f"{value!r}: surrounding whitespace in an e-mail address")
    folded = unicodedata.normalize("NFKC", value).casefold()
    if len(folded) > MAX_EMAIL or not _EMAIL.fullmatch(folded):
        raise Invalid(f"{value!r} is not a plausible e-mail address")
    return folded


def canonical_or_none(value: object) -> str | None:
    """For addresses a hook answered: one that is not plausible matches nobody."""
    if not isinstance(value, str):
        return None
    try:
        return canonical_email(value)
    except Invalid:
        return None


def canonical_pattern(value: str) -> str:
    """A ``[roles]`` entry: an address, or a glob like ``*@acme.io``, canonicalised."""
    folded = unicodedata.normalize("NFKC", value.strip()).casefold()
    if "*" not in folded and "?" not in folded:
        return canonical_email(value.strip())
    if not _PATTERN.fullmatch(folded) or "@" not in folded:
        raise Invalid(f"{value!r} is not an e-mail address or a glob like *@acme.io")
    return folded


def matches(email: str, patterns: tuple[str, ...] | frozenset[str]) -> bool:
    """Whether canonical ``email`` is one of ``patterns`` (canonical addresses or globs)."""
    return any(fnmatch.fnmatchcase(email, pattern) for pattern in patterns)
