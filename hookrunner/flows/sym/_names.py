"""The handler names the runtime knows; the daemon's parser and ``describe`` share them."""

from __future__ import annotations

# The events a hookrunner flow fires, in the order of an access request's life.
HOOK_EVENTS = ("prompt", "request", "approve", "deny", "escalate", "deescalate")
# Sym also names hooks for the Slack forwarding and expiry of a request.
HOOK_ONLY_EVENTS = ("request_forward", "request_expire")
HOOK_NAMES = tuple(
    f"{when}_{event}" for event in HOOK_EVENTS + HOOK_ONLY_EVENTS for when in ("on", "after")
)
REDUCER_NAMES = ("get_approvers", "get_permissions", "get_request_notifications")
# The attribute @hook, @reducer and @prefetch leave on a function.
MARKER = "__hookrunner__"
