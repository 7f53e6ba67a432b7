"""The event document a flow hook receives (``HOOKRUNNER_FLOW_EVENT``).

The SDK's ``Event`` is built from this JSON, so the attributes of DESIGN §7 come from
here: ``name``, ``user``, ``flow``, ``payload``, ``channel``, ``request`` and the
actors behind ``get_actor``.
"""

from __future__ import annotations

import datetime
from typing import Any, NamedTuple

from hookrunner.flows.definition import FlowDefinition
from hookrunner.journal import RequestRecord


class Actor(NamedTuple):
    """Who fires an event: a person through the API, the flow's own hooks, or a timer."""

    email: str | None
    channel: str  # "api", "sdk" or "timer"

    def fired_by_flow(self) -> Actor:
        return Actor(self.email, "sdk")


def _user(email: str | None) -> dict[str, str] | None:
    return {"email": email, "username": email.split("@", 1)[0]} if email else None


def event_document(
    name: str,
    flow: FlowDefinition,
    request: RequestRecord,
    actor: Actor,
    fields: dict[str, Any],
    now: float,
    with_request: bool = True,
) -> dict[str, Any]:
    """What a hook of event ``name`` sees; ``fields`` are the event's keyword arguments."""
    actors = {entry.event: _user(entry.actor) for entry in request.history if entry.actor}
    user = _user(actor.email or request.requester)
    request_document = {**request.to_dict(), "duration": request.duration_s}
    return {
        "name": name,
        "user": user,
        "channel": {"type": actor.channel},
        "flow": {
            "srn": {"slug": flow.slug},
            "slug": flow.slug,
            "vars": flow.settings.vars,
            "fields": request.fields,
        },
        "payload": {
            "fields": {**request.fields, **fields},
            "timestamp": datetime.datetime.fromtimestamp(now, datetime.UTC).isoformat(),
            "user": user,
        },
        "request": request_document if with_request else None,
        "actors": actors,
    }
