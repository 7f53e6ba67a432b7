"""Approvers are a Slack channel, but the host has no Slack integration configured."""

from sym.sdk.annotations import reducer
from sym.sdk.integrations import slack


@reducer
def get_approvers(event):
    return slack.channel("#prod-approvers", allow_self=False)
