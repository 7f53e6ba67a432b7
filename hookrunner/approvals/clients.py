"""The Slack clients of the configured ``[integrations.*]`` tables of type ``slack``.

Built from the settings in force: a reload that changes the tables gets fresh clients.
The daemon's own calls (posting and updating messages) make one attempt each; the
outbox retries them with its own backoff, so a Slack outage never holds a worker.
"""

from __future__ import annotations

import threading

import structlog

from hookrunner.config import SettingsView, secret_path
from hookrunner.integrations.errors import SymIntegrationError
from hookrunner.integrations.http import CallPolicy
from hookrunner.integrations.registry import Integrations
from hookrunner.integrations.slack import SlackClient

log = structlog.get_logger("hookrunner.approvals")
POLICY = CallPolicy(timeout=5.0, max_attempts=1)


class SlackClients:
    def __init__(self, settings: SettingsView) -> None:
        self.settings = settings
        self._lock = threading.Lock()
        self._configured: object = None
        self._registry: Integrations | None = None

    def _current(self) -> Integrations:
        configured = self.settings.integrations
        with self._lock:
            if self._registry is None or configured is not self._configured:
                if self._registry is not None:
                    self._registry.close()
                self._registry = Integrations(configured, POLICY)
                self._configured = configured
            return self._registry

    def client(self, name: str) -> SlackClient:
        client = self._current().client(name)
        if not isinstance(client, SlackClient):
            message = f"[integrations.{name}] is not a Slack table"
            raise SymIntegrationError(message, integration=name)
        return client

    def for_flow(self, names: list[str]) -> str | None:
        """The Slack table among a flow's integrations, if it has one."""
        configured = self.settings.integrations
        return next((n for n in names if n in configured and configured[n].type == "slack"), None)

    def signing_secrets(self) -> list[tuple[str, str]]:
        """``(table, signing secret)`` of every Slack table that verifies requests."""
        found = []
        for name, table in sorted(self.settings.integrations.items()):
            if table.type == "slack" and table.signing_secret_file:
                try:
                    secret = secret_path(table.signing_secret_file).read_text().strip()
                except OSError as exc:  # the file's name only: never its content
                    log.error("slack_signing_secret_unreadable", table=name, error=exc.strerror)
                    continue
                if secret:
                    found.append((name, secret))
        return found

    def close(self) -> None:
        with self._lock:
            if self._registry is not None:
                self._registry.close()
                self._registry = None
