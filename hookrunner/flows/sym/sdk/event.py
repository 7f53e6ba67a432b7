"""The event a hook or reducer receives (``sym.sdk.event``)."""

from __future__ import annotations

import datetime
from typing import Any

from .flow import Flow, Run
from .resource import SRN
from .templates import Template
from .user import User


class Payload:
    """The event's data: ``fields`` (typed by the flow's prompt fields), ``user``, …"""

    def __init__(
        self, timestamp: datetime.datetime, fields: dict[str, Any], srn: SRN | None, user: User
    ) -> None:
        self.timestamp = timestamp
        self.fields = fields
        self.srn = srn
        self.user = user

    def __repr__(self) -> str:
        return f"Payload(user={self.user!r}, fields={self.fields!r})"


class Channel:
    """Where the event came from: ``type`` (``api``, ``slack``, ``sdk``, ``timer``)."""

    def __init__(self, type: str, identifier: str | None = None) -> None:
        self.type = type
        self.identifier = identifier

    def __repr__(self) -> str:
        return f"Channel({self.type!r}, {self.identifier!r})"


class EventMeta:
    """About the event itself: its ``srn``."""

    def __init__(self, srn: SRN | None) -> None:
        self.srn = srn

    def __repr__(self) -> str:
        return f"EventMeta({self.srn})"


class Record:
    """A JSON object read by attribute (hookrunner's ``event.request``); absent keys raise."""

    def __init__(self, data: dict[str, Any]) -> None:
        self._data = dict(data)

    def __getattr__(self, name: str) -> Any:
        try:
            return self.__dict__["_data"][name]
        except KeyError:
            raise AttributeError(name) from None

    def __repr__(self) -> str:
        return f"Record({self._data!r})"


class Event:
    """One step of an access request, as a hook or reducer sees it."""

    def __init__(
        self,
        name: str,
        payload: Payload,
        flow: Flow,
        run: Run,
        channel: Channel,
        template: Template,
        meta: EventMeta,
        user: User,
        request: Record | None = None,
    ) -> None:
        self.name = name
        self.payload = payload
        self.flow = flow
        self.run = run
        self.channel = channel
        self.template = template
        self.meta = meta
        self.user = user
        self.request = request

    def get_actor(self, event_name: str) -> User | None:
        """Who fired event ``event_name`` of this request, if it happened."""
        return self.run.actors.get(str(getattr(event_name, "value", event_name)))

    def get_context(self, event_name: str) -> dict[str, Any] | None:
        """The context (keyword arguments) event ``event_name`` carried, if it happened."""
        return self.run.contexts.get(str(getattr(event_name, "value", event_name)))

    def __repr__(self) -> str:
        return f"Event({self.name!r}, user={self.user!r})"


__all__ = ["Channel", "Event", "EventMeta", "Payload"]
