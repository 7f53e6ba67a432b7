"""Each handler answers something of the wrong type; each must be refused, never guessed at."""

from sym.sdk.annotations import hook, prefetch, reducer
from sym.sdk.integrations import slack
from sym.sdk.notifications import Notification
from sym.sdk.request_destination import RequestDestination


@reducer
def get_permissions(event):
    return {"webapp_view": "ALL_USERS", "approve_deny": "ALL_USERS"}


@reducer
def get_request_notifications(event):
    return Notification(destinations=[slack.channel("#ops")])  # not in a list


@reducer
def get_approvers(event):
    mode = event.payload.fields["mode"]
    if mode == "none":
        return None
    if mode == "bare":
        return RequestDestination()
    if mode == "name":
        return ["nobody-at-all"]
    return "boss@acme.io"


@prefetch(field_name="database")
def databases(event):
    return ["orders", "billing"]


@hook
def on_request(event):
    return True


@hook
def on_approve(event):
    from sym.sdk.templates import ApprovalTemplate

    return ApprovalTemplate.approve(when=float("nan"))
