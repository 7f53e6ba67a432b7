"""The event document a flow process receives (``HOOKRUNNER_FLOW_EVENT``).

Its shape is the contract between the daemon and the ``sym`` tree in the hook process
(docs/contract-notes.md, "The flow event document and the harness's answers"): the
hook side builds Sym's ``Event`` from it. Keys a hook cannot know are left out, never
guessed. Integrations are exposed by name, type, external id and settings, and a
custom integration by its secrets' names: tokens, secret paths and values stay in the
daemon.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable
from typing import Any, NamedTuple

from hookrunner.config import IntegrationSettings
from hookrunner.flows.definition import FlowDefinition
from hookrunner.journal import RequestRecord

# Channels through which a person, rather than the flow or a timer, fires an event.
PEOPLE_CHANNELS = frozenset({"api", "slack"})


class Actor(NamedTuple):
    """Who fires an event: a person (through the API or Slack), the flow's own hooks, or
    a timer."""

    email: str | None
    channel: str  # "api", "slack", "sdk" or "timer"

    @property
    def by_person(self) -> bool:
        """A person asked, so the approver rules apply (not the flow's own decision)."""
        return self.channel in PEOPLE_CHANNELS

    def fired_by_flow(self) -> Actor:
        return Actor(self.email, "sdk")


class FlowView(NamedTuple):
    """What the event document says about the flow, the same for each of its events."""

    definition: FlowDefinition
    prefetch: frozenset[str]
    integrations: dict[str, IntegrationSettings]

    def document(self) -> dict[str, Any]:
        settings = self.definition.settings
        slug = self.definition.slug
        return {
            "srn": f"hookrunner:flow:{slug}:latest",
            "slug": slug,
            "fields": [f.to_document(f.name in self.prefetch) for f in settings.fields],
            "targets": [target.to_document() for target in settings.targets],
            "vars": settings.vars,
            "strategy": {
                "type": settings.strategy,
                "targets": [target.name for target in settings.targets],
            },
            "environment": {
                "name": "hookrunner",
                "integrations": {
                    name: _integration_document(integration)
                    for name, integration in self.integrations.items()
                },
            },
            "allow_revoke": settings.allow_revoke,
        }


def _integration_document(integration: IntegrationSettings) -> dict[str, Any]:
    """What a flow sees of one integration; a custom one's secrets by name only (their
    values come through the channel's ``retrieve_secret``)."""
    shown: dict[str, Any] = {
        "type": integration.type,
        "external_id": integration.external_id,
        "settings": integration.settings,
    }
    if integration.type == "custom":
        shown["secrets"] = sorted(integration.secrets)
    return shown


def _timestamp(at: float) -> str:
    return datetime.datetime.fromtimestamp(at, datetime.UTC).isoformat()


def event_document(
    name: str,
    flow: FlowView,
    request: RequestRecord | None,
    actor: Actor,
    fields: dict[str, Any],
    now: float,
    role_of: Callable[[str], str],
) -> dict[str, Any]:
    """What a process of event ``name`` sees; ``fields`` are the event's keyword
    arguments. ``request`` is ``None`` before a request exists (prompt, prefetch)."""

    def user(email: str) -> dict[str, str]:
        return {"email": email, "role": role_of(email)}

    requester = request.requester if request is not None else actor.email
    firing = actor.email or requester
    payload: dict[str, Any] = {
        "timestamp": _timestamp(now),
        "fields": {**(request.fields if request is not None else {}), **fields},
    }
    document: dict[str, Any] = {
        "name": name,
        "timestamp": _timestamp(now),
        "channel": {"type": actor.channel, "identifier": None},
        "flow": flow.document(),
        "payload": payload,
        "request": None,
        "actors": {},
        "step_outputs": {},
    }
    if firing:  # nobody fires a describe or an anonymous prefetch: no user, not a guess
        document["user"] = user(firing)
    if requester:
        payload["user"] = user(requester)
    if request is not None:
        payload["srn"] = f"hookrunner:access_request:{request.flow}:latest:{request.request_id}"
        document["request"] = request.to_dict()
        document["actors"] = {
            entry.event: {"email": entry.actor}
            for entry in request.history
            if entry.actor and entry.transition
        }
        document["step_outputs"] = request.step_outputs
    return document
