"""Every configured integration, one client each, and the one door hooks call through.

A flow names an integration by its SDK module (``slack``, ``okta``); that is the table
``[integrations.slack]``, or else the only table whose ``type`` is ``slack``. A hook may
call only a client's ``hook_functions``: the approval messages and the ``okta`` strategy's
group changes stay with the daemon.
"""

from __future__ import annotations

import inspect
import threading
from collections.abc import Collection, Mapping
from typing import Any, Protocol

from hookrunner.config import IntegrationSettings
from hookrunner.integrations.aws_lambda import AWSLambdaClient
from hookrunner.integrations.custom import CustomIntegration
from hookrunner.integrations.errors import SymIntegrationError
from hookrunner.integrations.github import GitHubClient
from hookrunner.integrations.http import CallPolicy
from hookrunner.integrations.okta import OktaClient
from hookrunner.integrations.pagerduty import PagerDutyClient
from hookrunner.integrations.slack import SlackClient


class IntegrationClient(Protocol):
    name: str
    hook_functions: frozenset[str]

    def close(self) -> None: ...


def _build(name: str, settings: IntegrationSettings, policy: CallPolicy) -> IntegrationClient:
    kind = settings.type
    if kind == "slack":
        return SlackClient(name, settings, policy)
    if kind == "pagerduty":
        return PagerDutyClient(name, settings, policy)
    if kind == "okta":
        return OktaClient(name, settings, policy)
    if kind == "github":
        return GitHubClient(name, settings, policy)
    if kind == "aws_lambda":
        return AWSLambdaClient(name, settings, policy)
    if kind == "custom":
        return CustomIntegration(name, settings)
    raise SymIntegrationError(
        f"[integrations.{name}] type {kind!r} is not supported "
        "(slack, pagerduty, okta, github, aws_lambda, custom)",
        integration=name,
    )


def _table(integration: str, tables: Mapping[str, IntegrationSettings]) -> str:
    """``integration`` by table name, else the one table of that type."""
    if integration in tables:
        return integration
    typed = [name for name, settings in tables.items() if settings.type == integration]
    if len(typed) == 1:
        return typed[0]
    if typed:
        raise SymIntegrationError(
            f"several [integrations.*] tables have type {integration!r} "
            f"({', '.join(sorted(typed))}); name one [integrations.{integration}]",
            integration=integration,
        )
    raise SymIntegrationError(
        f"the {integration} integration is not configured: "
        f"add an [integrations.{integration}] table",
        integration=integration,
    )


class Integrations:
    def __init__(
        self, configured: Mapping[str, IntegrationSettings], policy: CallPolicy | None = None
    ) -> None:
        self._configured = dict(configured)
        self._policy = policy or CallPolicy()
        self._clients: dict[str, IntegrationClient] = {}
        self._lock = threading.Lock()

    def table_for(self, integration: str, among: Collection[str] | None = None) -> str:
        """The ``[integrations.<name>]`` table a flow's ``integration`` means; with
        ``among`` (the tables a flow lists), only one of those."""
        if among is None:
            return _table(integration, self._configured)
        listed = {name: s for name, s in self._configured.items() if name in among}
        try:
            return _table(integration, listed)
        except SymIntegrationError:
            _table(integration, self._configured)  # not configured at all: say that
            raise SymIntegrationError(
                f"the {integration} integration is not among this flow's integrations"
                " (flow.toml integrations = [...])",
                integration=integration,
            ) from None

    def client(self, integration: str) -> IntegrationClient:
        name = self.table_for(integration)
        with self._lock:
            if name not in self._clients:
                self._clients[name] = _build(name, self._configured[name], self._policy)
            return self._clients[name]

    def call(self, integration: str, function: str, args: Mapping[str, Any]) -> Any:
        """What a hook asked for: an allowed function, with arguments that fit it."""
        client = self.client(integration)
        if function not in client.hook_functions:
            raise SymIntegrationError(
                f"{integration}.{function} is not available to flows", integration=integration
            )
        method = getattr(client, function)
        try:
            inspect.signature(method).bind(**args)
        except TypeError as exc:
            raise SymIntegrationError(
                f"{integration}.{function}: {exc}", integration=integration
            ) from None
        return method(**args)

    def reconfigure(self, configured: Mapping[str, IntegrationSettings]) -> None:
        """New ``[integrations.*]`` (a reload): clients are built again on next use."""
        with self._lock:
            self._configured = dict(configured)
        self.close()

    def close(self) -> None:
        with self._lock:
            for client in self._clients.values():
                client.close()
            self._clients.clear()
