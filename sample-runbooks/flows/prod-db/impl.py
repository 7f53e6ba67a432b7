"""Read-only access to the production database, approved by a manager.

Written as for Sym: the same imports and decorators run unchanged under hookrunner.

* The on-call engineer gets urgent access at once (``on_request``).
* Otherwise only the managers in ``flow.toml`` may approve or deny (``get_approvers``),
  and an approval needs a reason (``on_approve``).
* Every step is announced in chat (``after_*``).
"""

import sys
from pathlib import Path

# Helpers shared with the session hooks live in hoop-hooks/ at the repository root.
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "hoop-hooks"))

from runbooklib import notify  # noqa: E402
from sym.sdk.annotations import hook, reducer  # noqa: E402
from sym.sdk.templates import ApprovalTemplate  # noqa: E402


def _requester(event):
    return event.get_actor("request").email


@hook
def on_request(event):
    """Urgent requests from whoever is on call are approved without waiting."""
    urgent = event.payload.fields.get("urgency") == "urgent"
    if urgent and event.user.email in event.flow.vars["on_call"]:
        return ApprovalTemplate.approve(reason="on-call engineer, urgent")
    return None


@reducer
def get_approvers(event):
    """The managers may approve or deny; nobody approves their own request."""
    return event.flow.vars["managers"]


@hook
def on_approve(event):
    """A person must say why; the flow's own approvals (on-call) already did."""
    if event.channel.type == "api" and not event.payload.fields.get("reason"):
        return ApprovalTemplate.ignore(message="an approval of prod-db needs a reason")
    return None


@hook
def after_request(event):
    reason = event.payload.fields.get("reason", "no reason given")
    notify(f"{event.user.email} asks for prod-db access ({reason}); request {event.request.id}")


@hook
def after_approve(event):
    notify(f"{event.user.email} approved prod-db access for {_requester(event)}")


@hook
def after_deny(event):
    notify(f"{event.user.email} denied prod-db access for {_requester(event)}")


@hook
def after_escalate(event):
    minutes = int(event.request.duration_s // 60)
    notify(f"{_requester(event)} now has prod-db access for {minutes} min")


@hook
def after_deescalate(event):
    notify(f"prod-db access of {_requester(event)} has been removed")
