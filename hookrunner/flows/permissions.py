"""Who may approve or deny a request (DESIGN §7), from the first of these a flow has:
``get_permissions``, ``get_approvers``, ``flow.toml`` ``approvers``, else anyone but the
requester.

Every doubt closes the door: a reducer that failed or answered the wrong shape, a Slack
destination whose members cannot be resolved, an address that is not plausible; each
leaves nobody (or nobody more) able to approve.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, NamedTuple

import structlog

from hookrunner.config import IntegrationSettings, RoleSettings
from hookrunner.flows.errors import Invalid, Refused
from hookrunner.flows.identity import canonical_or_none, canonical_pattern, matches

log = structlog.get_logger("hookrunner.flows")


class Roles:
    """``[roles]``: ``PermissionLevel.ADMIN`` and ``MEMBER``; admins are members too."""

    def __init__(self, settings: RoleSettings) -> None:
        self.admins = _patterns(settings.admins)
        self.members = self.admins | _patterns(settings.members)

    def role_of(self, email: str) -> str:
        if matches(email, self.admins):
            return "admin"
        return "member" if matches(email, self.members) else "guest"


def _patterns(entries: Iterable[str]) -> frozenset[str]:
    """Canonical patterns; an entry that is not an address or a glob matches nobody."""
    found = set()
    for entry in entries:
        try:
            found.add(canonical_pattern(entry))
        except Invalid as exc:
            log.error("role_entry_ignored", error=str(exc))
    return frozenset(found)


class Deciders(NamedTuple):
    """The people who may approve or deny one request."""

    everyone: bool = False
    patterns: frozenset[str] = frozenset()
    allow_self: bool = False
    nobody: str | None = None  # why nobody may decide, when that is the answer

    def check(self, email: str, requester: str, slug: str) -> None:
        """:class:`Refused` unless ``email`` (canonical) may decide."""
        if self.nobody is not None:
            raise Refused(self.nobody)
        if not self.everyone and not matches(email, self.patterns):
            raise Refused(f"{email} is not an approver of flow {slug}")
        if email == requester and not self.allow_self:
            raise Refused(f"self-approval is not allowed in flow {slug}")

    def admits(self, email: str) -> bool:
        return self.nobody is None and (self.everyone or matches(email, self.patterns))


def nobody(reason: str) -> Deciders:
    return Deciders(nobody=reason)


def _users(emails: list[str]) -> frozenset[str]:
    """Canonical addresses; one that is not plausible matches nobody."""
    return frozenset(email for email in map(canonical_or_none, emails) if email is not None)


def from_permissions(answer: dict[str, Any], roles: Roles) -> Deciders:
    level = answer["approve_deny"]
    allow_self = bool(answer["allow_self_approval"])
    if level == "ALL_USERS":
        return Deciders(everyone=True, allow_self=allow_self)
    if level == "ADMIN":
        patterns = roles.admins
    elif level == "MEMBER":
        patterns = roles.members
    else:
        patterns = _users(level["users"])
    return Deciders(patterns=patterns, allow_self=allow_self)


def has_slack(names: Iterable[str], integrations: dict[str, IntegrationSettings]) -> bool:
    return any(name in integrations and integrations[name].type == "slack" for name in names)


class Resolution(NamedTuple):
    """Whom a destination reaches (through Slack), or why that is not known."""

    people: tuple[str, ...] | None = None  # None: it could not be resolved
    reason: str = ""


def from_approvers(
    answer: dict[str, Any],
    allow_self: bool,
    slack: bool,
    resolution: Resolution | None = None,
    requester: str = "",
) -> Deciders:
    """``get_approvers``' people, or the people its destination reaches. The destination
    leaves the requester out unless its ``allow_self``; when it kept them, they may
    approve their own request."""
    if "users" in answer:
        return Deciders(patterns=_users(answer["users"]), allow_self=allow_self)
    kind = answer["destination"].get("type", "destination")
    if not slack:
        return nobody(
            f"get_approvers named a {kind} destination and this flow has no Slack"
            " integration, so nobody may approve through it"
        )
    if resolution is None or resolution.people is None:
        why = f" ({resolution.reason})" if resolution and resolution.reason else ""
        return nobody(
            f"the members of the {kind} destination cannot be resolved{why}, so nobody may"
            " approve through it"
        )
    patterns = _users(list(resolution.people))
    if not patterns:
        return nobody(f"the {kind} destination reaches nobody, so nobody may approve through it")
    return Deciders(patterns=patterns, allow_self=allow_self or requester in patterns)


def from_settings(approvers: list[str], allow_self: bool) -> Deciders:
    if approvers:
        return Deciders(patterns=_users(approvers), allow_self=allow_self)
    return Deciders(everyone=True, allow_self=allow_self)
