"""Okta management API: users, groups, and the ``okta`` strategy's group membership.

Auth is ``Authorization: SSWS …``; lists page with ``Link: <…>; rel="next"``; errors are
``{"errorCode", "errorSummary"}``; a 429 says when to come back in ``X-Rate-Limit-Reset``
(epoch seconds). Adding and removing a member are PUT and DELETE on the membership, which
Okta answers 204 whether or not anything changed, so both are safe to repeat.
"""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import quote

import httpx

from hookrunner.integrations.errors import IntegrationError, OktaError
from hookrunner.integrations.http import ApiClient, header_seconds
from hookrunner.integrations.people import person

PAGE_SIZE = 200
NATIVE_GROUP = "OKTA_GROUP"


class OktaClient(ApiClient):
    error_class = OktaError
    hook_functions = frozenset(
        {"is_user_in_group", "users_in_group", "get_user_info", "list_groups"}
    )

    def default_base(self) -> str:
        domain = self.settings.external_id
        return f"https://{domain}/" if domain else ""

    def auth_headers(self, token: str) -> dict[str, str]:
        return {"Authorization": f"SSWS {token}", "Accept": "application/json"}

    def error_for(self, response: httpx.Response) -> IntegrationError | None:
        if response.is_success:
            return None
        try:
            body = response.json()
        except ValueError:
            body = {}
        summary = body.get("errorSummary") if isinstance(body, dict) else None
        return OktaError(
            f"{self.name}: {summary or f'HTTP {response.status_code}'}",
            integration=self.name,
            status=response.status_code,
            code=str(body.get("errorCode", "")) if isinstance(body, dict) else "",
        )

    def rate_limit_wait(self, response: httpx.Response) -> float | None:
        if response.status_code != 429:
            return None
        reset = header_seconds(response.headers.get("X-Rate-Limit-Reset"), default=0.0)
        return max(reset - time.time(), 0.0) + 0.1 if reset else 1.0

    # -- reads -------------------------------------------------------------------------

    def user(self, user: str) -> dict[str, Any]:
        """An Okta user by login (usually the e-mail) or id."""
        body: dict[str, Any] = self.get(f"api/v1/users/{quote(user, safe='')}").body
        return body

    def group(self, group_id: str) -> dict[str, Any]:
        body: dict[str, Any] = self.get(f"api/v1/groups/{quote(group_id, safe='')}").body
        return body

    def get_user_info(self, user: str) -> dict[str, Any]:
        return self.user(user)

    def is_user_in_group(self, user: str, group_id: str) -> bool:
        gid = self.group(group_id)["id"]
        uid = self.user(user)["id"]
        groups = self.pages(f"api/v1/users/{uid}/groups", {"limit": PAGE_SIZE})
        return any(g["id"] == gid for response in groups for g in response.body)

    def users_in_group(self, group_id: str) -> list[dict[str, Any]]:
        gid = self.group(group_id)["id"]
        members = self.pages(f"api/v1/groups/{gid}/users", {"limit": PAGE_SIZE})
        return [
            person(str(u["profile"].get("email", "")), str(u["id"]), str(u["profile"]["login"]))
            for response in members
            for u in response.body
        ]

    def list_groups(
        self,
        name_filter: str | None = None,
        filter: str | None = None,
        expand: list[str] | None = None,
        only_native_groups: bool = True,
    ) -> list[dict[str, Any]]:
        params: dict[str, Any] = {"limit": PAGE_SIZE}
        if name_filter:
            params["q"] = name_filter
        if filter:
            params["filter"] = filter
        if expand:
            params["expand"] = ",".join(expand)
        groups = (g for response in self.pages("api/v1/groups", params) for g in response.body)
        return [g for g in groups if not only_native_groups or g.get("type") == NATIVE_GROUP]

    # -- the okta strategy -------------------------------------------------------------

    def add_user_to_group(self, user: str, group_id: str) -> None:
        """Escalate: put the user in the group (204 even when already a member)."""
        self._membership("PUT", user, group_id)

    def remove_user_from_group(self, user: str, group_id: str) -> None:
        """De-escalate: take the user out of the group (204 even when not a member)."""
        self._membership("DELETE", user, group_id)

    def _membership(self, method: str, user: str, group_id: str) -> None:
        uid = self.user(user)["id"]
        self.request(method, f"api/v1/groups/{quote(group_id, safe='')}/users/{uid}")
