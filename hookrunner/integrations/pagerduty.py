"""PagerDuty REST API v2: who is on call, who is on a schedule, and open incidents.

Auth is ``Authorization: Token token=…``; lists page with ``limit``/``offset``/``more``;
errors are ``{"error": {"message", "code"}}``. Policies and schedules named by a flow are
resolved to ids with the list endpoints' ``query`` and an exact name match.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from hookrunner.integrations.errors import IntegrationError, PagerDutyError
from hookrunner.integrations.http import ApiClient, header_seconds
from hookrunner.integrations.people import person

PAGE_SIZE = 100
DEFAULT_STATUSES = ("triggered", "acknowledged")
DEFAULT_URGENCIES = ("high",)


class PagerDutyClient(ApiClient):
    error_class = PagerDutyError
    default_url = "https://api.pagerduty.com/"
    hook_functions = frozenset(
        {"is_on_call", "users_on_call", "users_for_schedule", "get_incidents", "has_incident"}
    )

    def auth_headers(self, token: str) -> dict[str, str]:
        return {
            "Authorization": f"Token token={token}",
            "Accept": "application/vnd.pagerduty+json;version=2",
        }

    def error_for(self, response: httpx.Response) -> IntegrationError | None:
        if response.is_success:
            return None
        try:
            error = response.json().get("error", {})
        except (ValueError, AttributeError):
            error = {}
        message = error.get("message", f"HTTP {response.status_code}")
        details = "; ".join(str(e) for e in error.get("errors", []))
        return PagerDutyError(
            f"{self.name}: {message}" + (f" ({details})" if details else ""),
            integration=self.name,
            status=response.status_code,
            code=str(error.get("code", "")),
        )

    def rate_limit_wait(self, response: httpx.Response) -> float | None:
        if response.status_code != 429:
            return None
        reset = response.headers.get("ratelimit-reset") or response.headers.get("Retry-After")
        return header_seconds(reset, default=1.0)

    def paginate(self, path: str, key: str, params: Mapping[str, Any]) -> Iterator[Any]:
        """Every item under ``key``, page by page while the API says ``more``."""
        offset = 0
        for _ in self.page_budget(path):
            body = self.get(path, {**params, "limit": PAGE_SIZE, "offset": offset}).body
            items = body.get(key, [])
            yield from items
            if not body.get("more") or not items:
                return
            offset += len(items)

    # -- names to ids ------------------------------------------------------------------

    def user_id(self, email: str) -> str | None:
        """The PagerDuty id of the user with this e-mail; None when PagerDuty has none."""
        for user in self.paginate("users", "users", {"query": email}):
            if str(user.get("email", "")).lower() == email.lower():
                return str(user["id"])
        return None

    def _named(self, path: str, name: str) -> str:
        for item in self.paginate(path, path, {"query": name}):
            if item.get("name") == name:
                return str(item["id"])
        kind = {"escalation_policies": "escalation policy", "schedules": "schedule"}[path]
        raise PagerDutyError(
            f"{self.name}: no {kind} is named {name!r}", integration=self.name, code="not_found"
        )

    def _id_or_named(self, path: str, given_id: str | None, name: str | None) -> str | None:
        """The id a flow gave, or the one its name resolves to, or None for neither."""
        if given_id:
            return given_id
        return self._named(path, name) if name else None

    def _oncall_filters(
        self,
        escalation_policy_name: str | None,
        escalation_policy_id: str | None,
        schedule_name: str | None,
        schedule_id: str | None,
    ) -> dict[str, Any]:
        policy = self._id_or_named(
            "escalation_policies", escalation_policy_id, escalation_policy_name
        )
        schedule = self._id_or_named("schedules", schedule_id, schedule_name)
        filters: dict[str, Any] = {"include[]": ["users"]}
        if policy:
            filters["escalation_policy_ids[]"] = [policy]
        if schedule:
            filters["schedule_ids[]"] = [schedule]
        return filters

    # -- what flows call ---------------------------------------------------------------

    def is_on_call(
        self,
        user: str,
        escalation_policy_name: str | None = None,
        escalation_policy_id: str | None = None,
        schedule_name: str | None = None,
        schedule_id: str | None = None,
    ) -> bool:
        user_id = self.user_id(user)
        if user_id is None:
            return False
        filters = self._oncall_filters(
            escalation_policy_name, escalation_policy_id, schedule_name, schedule_id
        )
        filters["user_ids[]"] = [user_id]
        return any(True for _ in self.paginate("oncalls", "oncalls", filters))

    def users_on_call(
        self,
        escalation_policy_name: str | None = None,
        escalation_policy_id: str | None = None,
        schedule_name: str | None = None,
        schedule_id: str | None = None,
    ) -> list[dict[str, Any]]:
        filters = self._oncall_filters(
            escalation_policy_name, escalation_policy_id, schedule_name, schedule_id
        )
        users = (oncall["user"] for oncall in self.paginate("oncalls", "oncalls", filters))
        return _distinct(users)

    def users_for_schedule(
        self, schedule_name: str | None = None, schedule_id: str | None = None
    ) -> list[dict[str, Any]]:
        schedule = self._id_or_named("schedules", schedule_id, schedule_name)
        if not schedule:
            raise PagerDutyError(
                f"{self.name}: users_for_schedule needs schedule_name or schedule_id",
                integration=self.name,
                code="missing_argument",
            )
        return _distinct(self.get(f"schedules/{schedule}/users").body.get("users", []))

    def get_incidents(
        self,
        assignees: list[str] | None = None,
        service_ids: list[str] | None = None,
        statuses: list[str] | None = None,
        urgencies: list[str] | None = None,
        since: str | None = None,
        until: str | None = None,
    ) -> list[dict[str, Any]]:
        start = datetime.fromisoformat(since) if since else datetime.now(UTC) - timedelta(days=1)
        params: dict[str, Any] = {
            "statuses[]": [s.lower() for s in statuses or DEFAULT_STATUSES],
            "urgencies[]": [u.lower() for u in urgencies or DEFAULT_URGENCIES],
            "since": start.isoformat(),
            "until": until or (start + timedelta(days=30)).isoformat(),
        }
        if service_ids:
            params["service_ids[]"] = list(service_ids)
        if assignees:
            user_ids = [i for i in (self.user_id(e) for e in assignees) if i]
            if not user_ids:
                return []
            params["user_ids[]"] = user_ids
        return [dict(i) for i in self.paginate("incidents", "incidents", params)]

    def has_incident(
        self,
        assignees: list[str] | None = None,
        service_ids: list[str] | None = None,
        statuses: list[str] | None = None,
        urgencies: list[str] | None = None,
        since: str | None = None,
        until: str | None = None,
    ) -> bool:
        return bool(self.get_incidents(assignees, service_ids, statuses, urgencies, since, until))


def _distinct(users: Iterator[Any] | list[Any]) -> list[dict[str, Any]]:
    """People with an e-mail, each once, in the order PagerDuty gave them."""
    seen: dict[str, dict[str, Any]] = {}
    for user in users:
        email = user.get("email")
        if email and email not in seen:
            seen[email] = person(str(email), str(user["id"]), str(user.get("name", "")))
    return list(seen.values())
