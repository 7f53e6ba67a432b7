"""The event document (``HOOKRUNNER_FLOW_EVENT``) turned into the SDK's objects.

The document's shape is the daemon's side of the contract (docs/contract-notes.md);
this module is the only reader of it. Prompt fields are typed by the flow's
``fields``; a value that does not fit its type is an error, never passed on raw.
"""

from __future__ import annotations

import datetime
import re
from typing import Any

from .sdk.event import Channel, Event, EventMeta, Payload, Record
from .sdk.exceptions import SDKError
from .sdk.flow import Environment, Flow, Run
from .sdk.forms import PromptField
from .sdk.resource import SRN
from .sdk.secret import Secret
from .sdk.strategies.integration import Integration
from .sdk.strategy import Strategy
from .sdk.target import AccessTarget
from .sdk.templates import ApprovalTemplate
from .sdk.user import User, UserIdentity

TEMPLATE_SRN = SRN("hookrunner", "template", None, "approval", "1.0.0")
DURATION = re.compile(r"^\s*(\d+)\s*([smhd]?)\s*$")
DURATION_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}
INTEGER = re.compile(r"^[+-]?\d+$")


def _invalid(message: str) -> SDKError:
    return SDKError("INVALID_EVENT", message)


def _object(value: Any, what: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise _invalid(f"{what} must be an object, not {type(value).__name__}")
    return value


def user_from(document: Any) -> User:
    """A ``User`` from ``{"email": …, "role": …}`` (or a bare e-mail)."""
    if isinstance(document, str):
        return User(document)
    data = _object(document, "a user")
    email = data.get("email")
    if not isinstance(email, str) or not email:
        raise _invalid(f"a user needs an email: {document!r}")
    identities = {
        service: [
            UserIdentity(service, str(entry.get("service_id")), str(entry.get("user_id")))
            for entry in entries
        ]
        for service, entries in _object(data.get("identities"), "identities").items()
    }
    return User(
        email,
        role=data.get("role") or "guest",
        identities=identities,
        first_name=data.get("first_name"),
        last_name=data.get("last_name"),
    )


def seconds(value: Any) -> int:
    """A duration in seconds, from a number or ``30m`` / ``1h`` / ``2d``."""
    if isinstance(value, bool):
        raise _invalid(f"{value!r} is not a duration")
    if isinstance(value, (int, float)) and value >= 0:
        return int(value)
    match = DURATION.match(value) if isinstance(value, str) else None
    if match is None:
        raise _invalid(f"{value!r} is not a duration (seconds, or like 30m, 1h, 2d)")
    return int(match.group(1)) * DURATION_UNITS[match.group(2)]


def _integer(value: Any) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and INTEGER.match(value.strip()):
        return int(value)
    raise _invalid(f"{value!r} is not an integer")


def _boolean(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise _invalid(f"{value!r} is not a boolean")


def _items(value: Any) -> list[Any]:
    if not isinstance(value, list):
        raise _invalid(f"{value!r} is not a list")
    return value


def _target(value: Any, targets: dict[str, AccessTarget]) -> AccessTarget:
    name = value.get("name") if isinstance(value, dict) else value
    if name not in targets:
        raise _invalid(f"{value!r} is not one of the flow's targets {sorted(targets)}")
    return targets[name]


def typed(kind: str, value: Any, targets: dict[str, AccessTarget]) -> Any:
    """``value`` as the Python object a field of type ``kind`` holds."""
    if value is None:
        return None
    converters: dict[str, Any] = {
        "int": _integer,
        "bool": _boolean,
        "duration": seconds,
        "list": _items,
        "str_list": lambda v: [str(item) for item in _items(v)],
        "int_list": lambda v: [_integer(item) for item in _items(v)],
        "user": user_from,
        "slack_user": user_from,
        "slack_user_list": lambda v: [user_from(item) for item in _items(v)],
        "target": lambda v: _target(v, targets),
    }
    converter = converters.get(kind)
    return converter(value) if converter else value


def typed_fields(
    raw: dict[str, Any], fields: dict[str, PromptField], targets: dict[str, AccessTarget]
) -> dict[str, Any]:
    """The request's fields, each typed by its prompt field (``target`` by the targets)."""
    result = dict(raw)
    for name, value in raw.items():
        field = fields.get(name)
        kind = field.type if field else ("target" if name == "target" and targets else None)
        if kind is not None:
            try:
                result[name] = typed(kind, value, targets)
            except SDKError as error:
                raise _invalid(f"field {name!r} ({kind}): {error.message}") from None
    return result


def _entries(value: Any) -> list[dict[str, Any]]:
    """The objects of a list in the document (older daemons sent other shapes: none)."""
    return [entry for entry in value if isinstance(entry, dict)] if isinstance(value, list) else []


def _integration_settings(name: str, entry: dict[str, Any]) -> dict[str, Any]:
    """An integration's settings, with a ``Secret`` for each secret a custom one names
    (as Sym puts them there): the value is read only when the flow asks for it."""
    secrets = entry.get("secrets") or []
    if not isinstance(secrets, list):
        raise _invalid(f"integration {name}'s secrets must be a list of names")
    settings = dict(_object(entry.get("settings"), "integration settings"))
    settings.update({str(secret): Secret.of_integration(name, str(secret)) for secret in secrets})
    return settings


def _timestamp(value: Any) -> datetime.datetime:
    if value is None:  # an event the daemon did not time: now
        return datetime.datetime.now(datetime.timezone.utc)  # noqa: UP017 (UTC is 3.11+)
    if isinstance(value, str):
        try:
            return datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            pass
    raise _invalid(f"timestamp {value!r} is not an ISO 8601 time")


def _srn(value: Any) -> SRN | None:
    if isinstance(value, dict) and value.get("slug"):  # {"slug": …}, older daemons
        return SRN("hookrunner", "flow", None, str(value["slug"]), "latest")
    return SRN.parse(value) if isinstance(value, str) else None


def flow_from(document: dict[str, Any]) -> Flow:
    """The ``Flow`` (srn, prompt fields, targets, vars, environment, strategy)."""
    slug = str(document.get("slug") or "flow")
    srn = _srn(document.get("srn")) or SRN("hookrunner", "flow", None, slug, "latest")
    targets = [
        AccessTarget(
            str(entry.get("name")),
            str(entry.get("type") or "custom"),
            entry.get("label"),
            _object(entry.get("settings"), "target settings"),
        )
        for entry in _entries(document.get("targets"))
    ]
    fields = {
        str(entry.get("name")): PromptField(
            str(entry.get("name")),
            str(entry.get("type") or "string"),
            label=entry.get("label"),
            required=bool(entry.get("required", False)),
            allowed_values=entry.get("allowed_values") or [],
            default=entry.get("default"),
            prefetch=bool(entry.get("prefetch", False)),
        )
        for entry in _entries(document.get("fields"))
    }
    environment_doc = _object(document.get("environment"), "flow.environment")
    integrations = {
        name: Integration(
            str(entry.get("type") or name),
            entry.get("external_id"),
            _integration_settings(name, entry),
            name=name,
        )
        for name, entry in _object(environment_doc.get("integrations"), "integrations").items()
    }
    environment = Environment(str(environment_doc.get("name") or "hookrunner"), integrations)
    strategy_doc = document.get("strategy")
    strategy = None
    if isinstance(strategy_doc, dict):
        by_name = {target.name: target for target in targets}
        strategy = Strategy(
            str(strategy_doc.get("type") or "runbook"),
            srn.slug,
            [by_name[name] for name in strategy_doc.get("targets") or [] if name in by_name],
            integrations.get(str(strategy_doc.get("integration"))),
            _object(strategy_doc.get("settings"), "strategy settings"),
        )
    return Flow(
        srn, fields, _object(document.get("vars"), "flow.vars"), environment, strategy, targets,
        allow_revoke=bool(document.get("allow_revoke", True)),
    )  # fmt: skip


def _channel(document: Any) -> Channel:
    data = _object(document, "channel")
    return Channel(str(data.get("type") or "api"), data.get("identifier"))


def event_from(document: dict[str, Any]) -> Event:
    """The ``Event`` a hook or reducer receives."""
    flow = flow_from(_object(document.get("flow"), "flow"))
    payload_doc = _object(document.get("payload"), "payload")
    user = user_from(document.get("user"))
    srn = _srn(payload_doc.get("srn"))
    targets = {target.name: target for target in flow.targets}
    fields = typed_fields(
        _object(payload_doc.get("fields"), "payload.fields"), flow.fields, targets
    )
    timestamp = _timestamp(payload_doc.get("timestamp") or document.get("timestamp"))
    channel = _channel(document.get("channel"))
    actors = {
        name: user_from(actor)
        for name, actor in _object(document.get("actors"), "actors").items()
        if actor
    }
    run = Run(
        actors,
        _object(document.get("contexts"), "contexts"),
        _channel(document["source_channel"]) if document.get("source_channel") else channel,
        srn,
    )
    request = document.get("request")
    return Event(
        name=str(document.get("name")),
        payload=Payload(timestamp, fields, srn, user),
        flow=flow,
        run=run,
        channel=channel,
        template=ApprovalTemplate(TEMPLATE_SRN),
        meta=EventMeta(srn),
        user=user,
        request=Record(request) if isinstance(request, dict) else None,
    )
