"""``sym.sdk.models``: the model classes, gathered."""

from .event import Channel, Event, EventMeta, Payload
from .field_option import FieldOption
from .flow import Environment, Flow, Run
from .request_destination import (
    RequestDestination,
    RequestDestinationFallback,
    SlackChannelID,
    SlackChannelName,
    SlackUser,
    SlackUserGroup,
)
from .resource import SRN, SymResource
from .target import AccessTarget
from .user import User, UserIdentity, UserRole

__all__ = [
    "SRN",
    "AccessTarget",
    "Channel",
    "Environment",
    "Event",
    "EventMeta",
    "FieldOption",
    "Flow",
    "Payload",
    "RequestDestination",
    "RequestDestinationFallback",
    "Run",
    "SlackChannelID",
    "SlackChannelName",
    "SlackUser",
    "SlackUserGroup",
    "SymResource",
    "User",
    "UserIdentity",
    "UserRole",
]
