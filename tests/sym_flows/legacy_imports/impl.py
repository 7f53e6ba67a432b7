"""A flow that mixes the pre-1.0 import names with the current and hookrunner ones."""

import sym.integrations.slack
import sym.sdk.integrations.slack
from sym.annotations import hook, reducer
from sym.integrations import slack
from sym.sdk import annotations, integrations
from sym.sdk.templates import ApprovalTemplate

from hookrunner.sdk import ApprovalTemplate as NativeTemplate


@reducer
def get_approvers(event):
    same = [
        slack is integrations.slack,
        sym.integrations.slack is sym.sdk.integrations.slack,
        hook is annotations.hook,
        NativeTemplate is ApprovalTemplate,
    ]
    if not all(same):
        raise RuntimeError(f"two copies of the runtime: {same}")
    return slack.channel("#legacy")


@hook
def on_request(event):
    return NativeTemplate.ignore(message="legacy names work")
