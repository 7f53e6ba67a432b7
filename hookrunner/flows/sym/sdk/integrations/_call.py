"""The one door from an integration function to the outside world.

Every integration call of the SDK (``pagerduty.is_on_call``, ``slack.send_message``, …)
goes through :func:`call_integration`. hookrunner does not yet carry these calls to the
daemon, so each raises ``SymIntegrationError`` naming what is missing: a flow never gets
``None`` where Sym would have answered, and its hook fails closed.
"""

from __future__ import annotations

from typing import Any

from ..._context import document
from ..errors import SymIntegrationError

INTEGRATIONS_DOCS = "docs/sym-sdk.md"


def call_integration(integration: str, function: str, **arguments: Any) -> Any:
    """Call ``integration``'s ``function`` for this flow, or raise why it cannot be called."""
    flow = document().get("flow") or {}
    configured = (flow.get("environment") or {}).get("integrations") or {}
    if integration in configured:
        reason = "is configured, but hookrunner cannot call it from a hook yet"
    else:
        reason = (
            f"is not configured: add [integrations.{integration}] to hookrunner's config"
            " and list it in the flow's integrations"
        )
    raise SymIntegrationError(
        f"{integration}.{function}(): integration {integration!r} {reason}",
        hint="",
        doc_url=INTEGRATIONS_DOCS,
    )
