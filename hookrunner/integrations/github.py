"""GitHub REST API: a repository's collaborators by role, for approver lists.

Auth is ``Authorization: Bearer …``; lists page with ``Link: rel="next"``; errors are
``{"message", "documentation_url"}``. A rate limit is a 429 or a 403 with
``Retry-After``, or a 403 with ``x-ratelimit-remaining: 0`` and ``x-ratelimit-reset``.
The organisation is ``external_id``; ``settings.emails`` maps logins to e-mails, since
GitHub does not say who a login is.
"""

from __future__ import annotations

import time
from typing import Any

import httpx

from hookrunner.integrations.errors import GitHubError, IntegrationError, SymIntegrationError
from hookrunner.integrations.http import ApiClient, header_seconds
from hookrunner.integrations.people import person

ROLES = frozenset({"admin", "maintain", "write", "triage", "read"})


class GitHubClient(ApiClient):
    error_class = GitHubError
    default_url = "https://api.github.com/"
    hook_functions = frozenset({"get_repo_collaborators"})

    def auth_headers(self, token: str) -> dict[str, str]:
        return {
            "Authorization": f"Bearer {token}",
            "Accept": "application/vnd.github+json",
            "X-GitHub-Api-Version": "2022-11-28",
        }

    def error_for(self, response: httpx.Response) -> IntegrationError | None:
        if response.is_success:
            return None
        try:
            message = response.json().get("message")
        except (ValueError, AttributeError):
            message = None
        return GitHubError(
            f"{self.name}: {message or f'HTTP {response.status_code}'}",
            integration=self.name,
            status=response.status_code,
        )

    def rate_limit_wait(self, response: httpx.Response) -> float | None:
        if response.status_code not in (403, 429):
            return None
        if "Retry-After" in response.headers:
            return header_seconds(response.headers["Retry-After"], default=60.0)
        if response.headers.get("x-ratelimit-remaining") == "0":
            reset = header_seconds(response.headers.get("x-ratelimit-reset"), default=0.0)
            return max(reset - time.time(), 0.0) + 0.1
        return None if response.status_code == 403 else 60.0

    def get_repo_collaborators(self, repo_name: str, roles: list[str]) -> list[dict[str, Any]]:
        """Collaborators whose ``role_name`` is one of ``roles`` (GitHub's roles are exclusive)."""
        unknown = set(roles) - ROLES
        if unknown:
            raise GitHubError(
                f"{self.name}: unknown roles {sorted(unknown)}; use {sorted(ROLES)}",
                integration=self.name,
                code="invalid_role",
            )
        org = self.settings.external_id
        if not org:
            raise SymIntegrationError(
                f"[integrations.{self.name}] needs external_id (the organisation)",
                integration=self.name,
            )
        emails: dict[str, str] = dict(self.settings.settings.get("emails", {}))
        path = f"repos/{org}/{repo_name}/collaborators"
        found = []
        for response in self.pages(path, {"affiliation": "all", "per_page": 100}):
            for collaborator in response.body:
                if collaborator.get("role_name") in roles:
                    login = str(collaborator["login"])
                    found.append(person(emails.get(login, ""), login, collaborator["role_name"]))
        return found
