"""The access-request state machine of DESIGN §7, as one table.

Each rule says which states an event starts from, the state it leads to, and the
default step that runs between ``on_<event>`` and ``after_<event>``. The engine reads
this table and nothing else to decide whether an event may happen; states only move
forward.
"""

from __future__ import annotations

from typing import NamedTuple

from hookrunner.flows.errors import Conflict


class Rule(NamedTuple):
    event: str
    from_states: tuple[str, ...]
    to_state: str
    # "record": only the state changes; "escalate" / "deescalate": the flow's strategy
    # grants or removes access first.
    step: str


TABLE: tuple[Rule, ...] = (
    Rule("approve", ("pending",), "approved", "record"),
    Rule("deny", ("pending",), "denied", "record"),
    Rule("expire", ("pending",), "expired", "record"),
    Rule("escalate", ("approved",), "escalated", "escalate"),
    Rule("deescalate", ("escalated",), "deescalated", "deescalate"),
    # A revoke also works on a request left approved by a failed escalation: the
    # strategy may have half-granted.
    Rule("revoke", ("escalated", "approved"), "revoked", "deescalate"),
)
RULES = {rule.event: rule for rule in TABLE}
# Events a hook's directive may redirect to on an open request.
REDIRECTABLE = frozenset({"approve", "deny", "escalate", "deescalate"})
FINAL_STATES = frozenset({"deescalated", "denied", "expired", "revoked"})


def rule_for(event: str, state: str, request_id: str) -> Rule:
    """The rule of ``event``; :class:`Conflict` if the request's ``state`` cannot take it."""
    rule = RULES[event]
    if state not in rule.from_states:
        raise Conflict(f"request {request_id} is {state}; cannot {event}")
    return rule
