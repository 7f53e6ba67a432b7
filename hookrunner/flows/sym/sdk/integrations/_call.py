"""The one door from an integration function to the outside world.

Every integration call of the SDK (``pagerduty.is_on_call``, ``slack.send_message``, …)
goes through :func:`call_integration`, which asks the daemon over the run's private
channel (``hookrunner/integrations/channel_client.py``, loaded by path: it is standard
library only). The daemon holds the credentials and makes the call; its error comes back
as the SDK exception it names (``SlackError``, ``OktaError``, …). An integration the flow
does not list raises ``SymIntegrationError`` naming what to configure: a flow never gets
``None`` where Sym would have answered, and its hook fails closed.
"""

from __future__ import annotations

import enum
import importlib.util
import os
import types
from typing import Any

from ..._context import document
from .. import exceptions
from ..errors import SymIntegrationError
from ..user import User, UserIdentity

INTEGRATIONS_DOCS = "docs/integrations.md"
# hookrunner/flows/sym/sdk/integrations/_call.py -> hookrunner/integrations/channel_client.py
_PACKAGE = os.path.dirname(
    os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.realpath(__file__)))))
)
CLIENT_PATH = os.path.join(_PACKAGE, "integrations", "channel_client.py")
_client: list[types.ModuleType] = []
# What the daemon may name (hookrunner/integrations/errors.py), each ``(name, message)``.
VENDOR_ERRORS = frozenset(
    {"SlackError", "PagerDutyError", "OktaError", "GitHubError", "AWSLambdaError"}
)


def _channel_client() -> types.ModuleType:
    """The daemon's stdlib-only channel client, loaded once from beside the sym tree."""
    if not _client:
        spec = importlib.util.spec_from_file_location("_hookrunner_channel", CLIENT_PATH)
        if spec is None or spec.loader is None:
            raise SymIntegrationError(f"the integration channel client is missing ({CLIENT_PATH})")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        _client.append(module)
    return _client[0]


def configured() -> dict[str, Any]:
    """The flow's integrations as the event document lists them: name -> type, settings."""
    flow = document().get("flow") or {}
    found = (flow.get("environment") or {}).get("integrations") or {}
    return found if isinstance(found, dict) else {}


def _listed(integration: str) -> dict[str, Any] | None:
    """The flow's integration ``integration`` names: by table name, else by type."""
    tables = configured()
    if isinstance(tables.get(integration), dict):
        return dict(tables[integration])
    typed = [t for t in tables.values() if isinstance(t, dict) and t.get("type") == integration]
    return dict(typed[0]) if len(typed) == 1 else None


def argument(value: Any, where: str) -> Any:
    """A call's argument as JSON: people by e-mail, destinations as the contract's ``D``."""
    from ..._wire import jsonable  # the tree's JSON rules; imported late (import cycle)
    from ..event import Event
    from ..request_destination import RequestDestination, RequestDestinationFallback

    if isinstance(value, (RequestDestination, RequestDestinationFallback)):
        return value._to_wire()
    if isinstance(value, Event):
        return document()
    if isinstance(value, enum.Enum):
        return argument(value.value, where)
    if isinstance(value, (list, tuple)):
        return [argument(item, where) for item in value]
    if isinstance(value, dict):
        return {str(key): argument(item, where) for key, item in value.items()}
    return jsonable(value, where)


def _raised(error: str, message: str, code: str) -> Exception:
    """The vendor's SDK exception the daemon named; ``SymIntegrationError`` otherwise."""
    if error in VENDOR_ERRORS:
        kind: type[exceptions.SymException] = getattr(exceptions, error)
        return kind((code or "API_ERROR").upper(), message)  # type: ignore[call-arg]
    return SymIntegrationError(message, doc_url=INTEGRATIONS_DOCS)


def call_integration(integration: str, function: str, **arguments: Any) -> Any:
    """Call ``integration``'s ``function`` for this flow, or raise why it cannot be called."""
    if _listed(integration) is None:
        raise SymIntegrationError(
            f"{integration}.{function}(): integration {integration!r} is not configured: add"
            f" [integrations.{integration}] to hookrunner's config and list it in the flow's"
            " integrations",
            hint="",
            doc_url=INTEGRATIONS_DOCS,
        )
    where = f"{integration}.{function}"
    args = {name: argument(value, where) for name, value in arguments.items()}
    client = _channel_client()
    try:
        return client.call(integration, function, args)
    except client.ChannelError as exc:
        raise _raised(exc.error, f"{where}(): {exc.message}", exc.code) from None


def users(answer: Any, integration: str) -> list[User]:
    """People the daemon answered (``{"email", "id", "name"}``) as ``User`` objects, each
    carrying their identity in ``integration`` (keyed by the flow's ``external_id``)."""
    service_id = str((_listed(integration) or {}).get("external_id") or "")
    found = []
    for person in answer or []:
        if isinstance(person, dict) and person.get("email"):
            identity = UserIdentity(integration, service_id, str(person.get("id", "")))
            found.append(User(str(person["email"]), identities={integration: [identity]}))
    return found
