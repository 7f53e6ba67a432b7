"""A database-access flow in Sym's style: every reducer, typed fields, targets, prefetch."""

from sym.sdk.annotations import hook, prefetch, reducer
from sym.sdk.field_option import FieldOption
from sym.sdk.integrations import slack
from sym.sdk.notifications import Notification
from sym.sdk.request_permission import PermissionLevel, RequestPermission
from sym.sdk.templates import ApprovalTemplate
from sym.sdk.user import user_ids
from team import leads  # a sibling module, as flows often have


@reducer
def get_permissions(event):
    if event.flow.vars.get("open_flow") == "yes":
        return RequestPermission(
            webapp_view=PermissionLevel.ALL_USERS, approve_deny=PermissionLevel.MEMBER
        )
    return RequestPermission(
        webapp_view=PermissionLevel.MEMBER,
        approve_deny=user_ids([event.user, *leads(event)]),
        allow_self_approval=event.payload.fields["urgent"],
    )


@reducer
def get_request_notifications(event):
    return [
        Notification(destinations=[slack.channel("#db-access", timeout=600)], timeout=900),
        Notification(destinations=[slack.channel("C0DBTEAM1")]),
        Notification(destinations=[slack.user("U0LEAD001", allow_self=True)]),
        Notification(destinations=[slack.user(event.user)]),
        Notification(destinations=[slack.group(["lead@acme.io", event.user])]),
    ]


@reducer
def get_approvers(event):
    if event.payload.fields["urgent"]:
        return slack.fallback(
            slack.channel("#oncall"), slack.user("lead@acme.io"), continue_on_timeout=True
        )
    return leads(event)


@prefetch(field_name="database")
def get_databases(event):
    return [FieldOption(value=name, label=name.title()) for name in ("orders", "billing")]


@hook
def on_request(event):
    fields = event.payload.fields
    if fields["minutes"] > 60 and not fields["urgent"]:
        return ApprovalTemplate.ignore(message="more than an hour needs urgent=true")
    if fields["urgent"] and event.user in leads(event):
        return ApprovalTemplate.approve(
            target_srn=fields["target"].srn, duration=fields["minutes"] * 60, by=event.user
        )
    return None


@hook
def after_approve(event):
    print("approved by", event.user.username, "for", event.get_actor("request").email)
