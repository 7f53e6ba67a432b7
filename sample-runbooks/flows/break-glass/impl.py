"""Emergency admin access: responders approve their own request, briefly, loudly.

Written as for Sym. ``get_permissions`` lets the responders listed in ``flow.toml``
approve, themselves included; the ``incident`` field is required (``flow.toml``), and
every step pages the whole channel.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "hoop-hooks"))

from runbooklib import notify  # noqa: E402
from sym.sdk.annotations import hook, reducer  # noqa: E402
from sym.sdk.request_permission import PermissionLevel, RequestPermission  # noqa: E402
from sym.sdk.templates import ApprovalTemplate  # noqa: E402


def _loud(text):
    notify(f"@here BREAK-GLASS: {text}")


@hook
def on_prompt(event):
    if event.user.email not in event.flow.vars["responders"]:
        return ApprovalTemplate.ignore(message="break-glass is for incident responders only")
    return None


@reducer
def get_permissions(event):
    return RequestPermission(
        webapp_view=PermissionLevel.MEMBER,
        approve_deny=event.flow.vars["responders"],
        allow_self_approval=True,
    )


@hook
def after_request(event):
    _loud(f"{event.user.email} requests admin access for {event.payload.fields['incident']}")


@hook
def after_approve(event):
    _loud(f"{event.user.email} approved break-glass request {event.request.id}")


@hook
def after_escalate(event):
    requester = event.get_actor("request").email
    minutes = int(event.request.duration_s // 60)
    _loud(f"{requester} HAS ADMIN ACCESS for {minutes} min ({event.payload.fields['incident']})")


@hook
def after_deescalate(event):
    _loud(f"admin access of {event.get_actor('request').email} removed")
