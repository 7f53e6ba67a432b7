"""Okta group access approved in Slack, at once for whoever is on call in PagerDuty.

Written as for Sym (its Okta quickstart and the PagerDuty example): the same imports
run unchanged under hookrunner, which makes the Slack, PagerDuty and Okta calls in the
daemon with the credentials of its ``[integrations.*]`` tables.
"""

from sym.sdk.annotations import hook, reducer
from sym.sdk.integrations import pagerduty, slack
from sym.sdk.templates import ApprovalTemplate


@reducer
def get_approvers(event):
    """The members of the approvals channel may approve, never the requester."""
    return slack.channel(event.flow.vars["approvals_channel"], allow_self=False)


@hook
def on_request(event):
    """The engineer on call for the escalation policy is approved without waiting."""
    policy = event.flow.vars["escalation_policy"]
    if pagerduty.is_on_call(event.user, escalation_policy_name=policy):
        return ApprovalTemplate.approve()
