"""What a flow's ``impl.py`` imports: decorators, templates and the event it receives.

Standard library only, and Python 3.9 compatible, so any ``python3`` on a gateway host
runs it. The harness loads this file by path, so hooks work whether or not the
``hookrunner`` package is installed for the interpreter that runs them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])

HOOK_EVENTS = ("prompt", "request", "approve", "deny", "escalate", "deescalate")
HOOK_NAMES = tuple(f"{when}_{event}" for event in HOOK_EVENTS for when in ("on", "after"))
REDUCER_NAMES = ("get_approvers",)
MARKER = "__hookrunner__"


def hook(function: F) -> F:
    """Mark ``function`` as a hook (``on_<event>`` / ``after_<event>``)."""
    setattr(function, MARKER, "hook")
    return function


def reducer(function: F) -> F:
    """Mark ``function`` as a reducer (``get_approvers``)."""
    setattr(function, MARKER, "reducer")
    return function


class Directive:
    """What a hook returns to steer the flow: go to ``event`` instead, or ``ignore`` it."""

    def __init__(self, event: str, message: str | None = None, **fields: Any) -> None:
        self.event = event
        self.message = message
        self.fields = fields

    def to_dict(self) -> dict[str, Any]:
        return {"directive": self.event, "message": self.message, "fields": self.fields}

    def __repr__(self) -> str:
        return f"ApprovalTemplate.{self.event}(message={self.message!r}, **{self.fields!r})"


class ApprovalTemplate:
    """The directives an approval-flow hook may return. Keyword arguments ride on the event."""

    @staticmethod
    def prompt(**fields: Any) -> Directive:
        return Directive("prompt", **fields)

    @staticmethod
    def request(**fields: Any) -> Directive:
        return Directive("request", **fields)

    @staticmethod
    def approve(**fields: Any) -> Directive:
        return Directive("approve", **fields)

    @staticmethod
    def deny(**fields: Any) -> Directive:
        return Directive("deny", **fields)

    @staticmethod
    def escalate(**fields: Any) -> Directive:
        return Directive("escalate", **fields)

    @staticmethod
    def deescalate(**fields: Any) -> Directive:
        return Directive("deescalate", **fields)

    @staticmethod
    def ignore(message: str | None = None, **fields: Any) -> Directive:
        """Cancel the event; ``message`` goes back to whoever fired it."""
        return Directive("ignore", message, **fields)


class _Record:
    """Attribute access over a JSON object, with ``None`` for absent keys."""

    def __init__(self, data: dict[str, Any] | None) -> None:
        self._data = dict(data or {})

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        return self._data.get(name)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._data!r})"


class User(_Record):
    """A person: ``email`` and ``username`` (the part before the ``@``)."""

    def __init__(self, data: dict[str, Any] | None) -> None:
        data = dict(data or {})
        email = str(data.get("email") or "")
        data.setdefault("username", email.split("@", 1)[0])
        super().__init__(data)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, User) and other.email == self.email

    def __hash__(self) -> int:
        return hash(self.email)


class Flow(_Record):
    """The flow: ``srn.slug``, ``vars`` from ``flow.toml`` and the request ``fields``."""

    def __init__(self, data: dict[str, Any] | None) -> None:
        data = dict(data or {})
        data["srn"] = _Record(data.get("srn"))
        data["vars"] = dict(data.get("vars") or {})
        data["fields"] = dict(data.get("fields") or {})
        super().__init__(data)


class Payload(_Record):
    """The event's own data: ``fields`` (request fields plus keyword arguments), ``user``."""

    def __init__(self, data: dict[str, Any] | None) -> None:
        data = dict(data or {})
        data["fields"] = dict(data.get("fields") or {})
        data["user"] = User(data.get("user"))
        super().__init__(data)


class Event(_Record):
    """One step of an access request, as a hook sees it."""

    def __init__(self, data: dict[str, Any] | None) -> None:
        data = dict(data or {})
        data["user"] = User(data.get("user"))
        data["flow"] = Flow(data.get("flow"))
        data["payload"] = Payload(data.get("payload"))
        data["channel"] = _Record(data.get("channel"))
        data["request"] = _Record(data.get("request")) if data.get("request") else None
        data["actors"] = dict(data.get("actors") or {})
        super().__init__(data)

    def get_actor(self, name: str) -> User | None:
        """The user who fired event ``name`` of this request, if anyone has."""
        actor = self._data["actors"].get(name)
        return User(actor) if actor else None


def get_actor(event: Event, name: str) -> User | None:
    """Function form of :meth:`Event.get_actor`."""
    return event.get_actor(name)


def emails(users: Any) -> list[str]:
    """A reducer's answer about people, as e-mail addresses."""
    if users is None:
        return []
    if isinstance(users, (str, User)):
        users = [users]
    return [user.email if isinstance(user, User) else str(user) for user in users]
