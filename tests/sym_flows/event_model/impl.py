"""Reports what a hook sees of its event, so a test can hold the event model to Sym's."""

import datetime

from sym.sdk.annotations import hook
from sym.sdk.event import Channel, Event, EventMeta, Payload
from sym.sdk.flow import Environment, Flow, Run
from sym.sdk.resource import SRN
from sym.sdk.strategies import Integration
from sym.sdk.target import AccessTarget
from sym.sdk.templates import ApprovalTemplate, Template
from sym.sdk.user import User, UserRole


def missing(thing, name):
    """True when the attribute raises AttributeError (it must never be None)."""
    try:
        getattr(thing, name)
    except AttributeError:
        return True
    return False


@hook
def on_approve(event):
    fields = event.payload.fields
    requester = event.get_actor("request")
    slack = event.flow.environment.integrations["slack"]
    report = {
        "types": [
            isinstance(event, Event),
            isinstance(event.payload, Payload),
            isinstance(event.channel, Channel),
            isinstance(event.meta, EventMeta),
            isinstance(event.flow, Flow),
            isinstance(event.flow.environment, Environment),
            isinstance(event.run, Run),
            isinstance(event.template, Template),
            isinstance(event.flow.srn, SRN),
            isinstance(slack, Integration),
            isinstance(fields["target"], AccessTarget),
            isinstance(fields["reviewer"], User),
            isinstance(event.payload.timestamp, datetime.datetime),
        ],
        "name": event.name,
        "user": [event.user.email, event.user.username, event.user.role.value],
        "payload_user_is_actor": event.payload.user == event.user,
        "requester": [requester.email, requester == User("DEV@Acme.io")],
        "lookalike_equal": User("\uff44ev@acme.io") == requester,
        "admin": event.user.role == UserRole.ADMIN,
        "channel": [event.channel.type, event.channel.identifier],
        "source_channel": event.run.source_channel.type,
        "actors": sorted(event.run.actors),
        "context": event.get_context("request"),
        "no_context": event.get_context("deny"),
        "no_actor": event.get_actor("deny"),
        "template": str(event.template.srn),
        "meta": str(event.meta.srn),
        "payload_srn": [event.payload.srn.model, event.payload.srn.identifier],
        "flow": [event.flow.srn.slug, event.flow.name, event.flow.vars["team"]],
        "prompt_fields": {name: field.type for name, field in event.flow.fields.items()},
        "integration": [slack.type, slack.external_id, slack.settings],
        "strategy": [event.flow.strategy.type, [t.name for t in event.flow.strategy.targets]],
        "fields": {
            "minutes": fields["minutes"],
            "urgent": fields["urgent"],
            "window": fields["window"],
            "dbs": fields["dbs"],
            "reviewer": fields["reviewer"].email,
            "target": [
                fields["target"].name,
                fields["target"].label,
                fields["target"].type,
                fields["target"].settings,
            ],
            "untyped": fields["note"],
        },
        "slack_identity": event.user.identity("slack", "T0123").user_id,
        "no_identity": event.user.identity("okta"),
        "missing": [
            missing(event, "requester"),
            missing(event.user, "nickname"),
            missing(event.payload, "reason"),
            missing(event.flow, "label"),
            missing(event.run, "state"),
            missing(event.channel, "name"),
        ],
    }
    return ApprovalTemplate.approve(**report)
