"""Emergency admin access: responders approve their own request, briefly, loudly.

Self-approval is allowed (``flow.toml``), but only for the responders listed there, an
incident id is required, and every step pages the whole channel.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "hoop-hooks"))

from runbooklib import notify  # noqa: E402

from hookrunner.sdk import ApprovalTemplate, hook, reducer  # noqa: E402


def _loud(text):
    notify(f"@here BREAK-GLASS: {text}")


@hook
def on_prompt(event):
    if event.user.email not in event.flow.vars["responders"]:
        return ApprovalTemplate.ignore(message="break-glass is for incident responders only")
    return None


@hook
def on_request(event):
    if not event.payload.fields.get("incident"):
        return ApprovalTemplate.ignore(message="name the incident (field 'incident')")
    return None


@reducer
def get_approvers(event):
    return event.flow.vars["responders"]


@hook
def after_request(event):
    _loud(f"{event.user.email} requests admin access for {event.payload.fields['incident']}")


@hook
def after_approve(event):
    _loud(f"{event.user.email} approved break-glass request {event.request.id}")


@hook
def after_escalate(event):
    requester = event.request.requester["email"]
    minutes = int(event.request.duration // 60)
    _loud(f"{requester} HAS ADMIN ACCESS for {minutes} min ({event.request.fields['incident']})")


@hook
def after_deescalate(event):
    _loud(f"admin access of {event.request.requester['email']} removed")
