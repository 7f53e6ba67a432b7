"""The flow engine's one error hierarchy.

Each class means one answer to the caller, so the API maps classes to statuses and
nothing else: a bug in the engine (a ``KeyError``, a ``LookupError``) is never taken
for "not found" or "try again", it stays a bug.
"""

from __future__ import annotations


class FlowEngineError(Exception):
    """Something the engine refuses or cannot do; the message is for the caller."""


class NotFound(FlowEngineError):
    """No such flow in the current snapshot, or no such request."""


class Invalid(FlowEngineError):
    """The caller's input is wrong: a field, an e-mail, a duration, an event too large."""


class Refused(FlowEngineError):
    """The event is not allowed: an ``ignore``, a failed hook or reducer, approver rules."""


class Conflict(FlowEngineError):
    """The request is not in a state the event can start from."""


class FlowUnavailable(FlowEngineError):
    """The flow is broken (does not import, names unknown hooks, bad ``flow.toml``), so it
    is not served: every event on it is refused until a commit fixes it."""


class NoSnapshot(FlowEngineError):
    """No snapshot of the runbooks repository is available yet; retry later."""


class MalformedAnswer(FlowEngineError):
    """A hook process answered something that is not the shape its name calls for; the
    hook failed, whatever it meant."""
