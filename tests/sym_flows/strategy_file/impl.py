"""Sym's custom-strategy layout: the flow's reducers here, the strategy in strategy.py."""

from sym.sdk.annotations import reducer
from sym.sdk.integrations import slack


@reducer
def get_approvers(event):
    return slack.channel("#access", allow_self=False)
