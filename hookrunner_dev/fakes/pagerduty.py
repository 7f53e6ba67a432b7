"""PagerDuty REST API v2 (https://developer.pagerduty.com/api-reference/): the reads flows use.

``Authorization: Token token=…``; ``limit``/``offset``/``more`` paging; array filters as
``user_ids[]=…``; errors as ``{"error": {"message", "code"}}``; 429 when rate limited.
"""

from __future__ import annotations

from typing import Any

from hookrunner_dev.fakes.base import FakeApi, FakeRequest, FakeResponse, page, route

API_TOKEN = "u+pdfaketoken0000000"


def reference(kind: str, item: dict[str, Any]) -> dict[str, Any]:
    return {"id": item["id"], "type": f"{kind}_reference", "summary": item.get("name", "")}


class FakePagerDuty(FakeApi):
    def __init__(self, token: str = API_TOKEN) -> None:
        super().__init__(token)
        self.users: list[dict[str, Any]] = []
        self.policies: list[dict[str, Any]] = []
        self.schedules: list[dict[str, Any]] = []
        self.oncalls: list[dict[str, Any]] = []  # {user, escalation_policy, schedule}
        self.incidents: list[dict[str, Any]] = []
        self.max_page = 2

    def add_user(self, user_id: str, email: str, name: str) -> None:
        self.users.append({"id": user_id, "type": "user", "email": email, "name": name})

    def add_oncall(self, user_id: str, policy_id: str, schedule_id: str | None = None) -> None:
        self.oncalls.append({"user": user_id, "policy": policy_id, "schedule": schedule_id})

    # -- the wire format ---------------------------------------------------------------

    def authorized(self, request: FakeRequest) -> bool:
        return request.headers.get("authorization") == f"Token token={self.token}"

    def unauthorized(self) -> FakeResponse:
        return self.error(401, "Unauthorized", 2006)

    def not_found(self, request: FakeRequest) -> FakeResponse:
        return self.error(404, "Not Found", 2100)

    @staticmethod
    def error(status: int, message: str, code: int, **headers: str) -> FakeResponse:
        return FakeResponse(status, {"error": {"message": message, "code": code}}, headers)

    @classmethod
    def ratelimited(cls, seconds: int = 1) -> FakeResponse:
        return cls.error(429, "Rate Limit Exceeded", 2020, **{"ratelimit-reset": str(seconds)})

    def paged(self, request: FakeRequest, key: str, items: list[Any]) -> FakeResponse:
        limit = min(int(request.arg("limit", "25")), self.max_page)
        offset = int(request.arg("offset", "0"))
        chunk, following = page(items, offset, limit)
        body = {key: chunk, "limit": limit, "offset": offset, "more": following is not None}
        return FakeResponse(200, {**body, "total": None})

    @staticmethod
    def matching(items: list[dict[str, Any]], query: str, *fields: str) -> list[dict[str, Any]]:
        return [i for i in items if any(query.lower() in str(i.get(f, "")).lower() for f in fields)]

    def _by_id(self, items: list[dict[str, Any]], item_id: str | None) -> dict[str, Any]:
        return next(i for i in items if i["id"] == item_id)

    # -- endpoints ---------------------------------------------------------------------

    @route("GET", "/users")
    def list_users(self, request: FakeRequest) -> FakeResponse:
        found = self.matching(self.users, request.arg("query", ""), "name", "email")
        return self.paged(request, "users", found)

    @route("GET", "/escalation_policies")
    def list_policies(self, request: FakeRequest) -> FakeResponse:
        found = self.matching(self.policies, request.arg("query", ""), "name")
        return self.paged(request, "escalation_policies", found)

    @route("GET", "/schedules")
    def list_schedules(self, request: FakeRequest) -> FakeResponse:
        found = self.matching(self.schedules, request.arg("query", ""), "name")
        return self.paged(request, "schedules", found)

    @route("GET", "/schedules/(?P<schedule>[^/]+)/users")
    def schedule_users(self, request: FakeRequest) -> FakeResponse:
        if not any(s["id"] == request.match["schedule"] for s in self.schedules):
            return self.not_found(request)
        on_it = {o["user"] for o in self.oncalls if o["schedule"] == request.match["schedule"]}
        return FakeResponse(200, {"users": [u for u in self.users if u["id"] in on_it]})

    @route("GET", "/oncalls")
    def list_oncalls(self, request: FakeRequest) -> FakeResponse:
        users, policies = request.args("user_ids[]"), request.args("escalation_policy_ids[]")
        schedules = request.args("schedule_ids[]")
        expand = "users" in request.args("include[]")
        found = []
        for oncall in self.oncalls:
            if (
                (users and oncall["user"] not in users)
                or (policies and oncall["policy"] not in policies)
                or (schedules and oncall["schedule"] not in schedules)
            ):
                continue
            user = self._by_id(self.users, oncall["user"])
            policy = self._by_id(self.policies, oncall["policy"])
            schedule = oncall["schedule"] and self._by_id(self.schedules, oncall["schedule"])
            found.append(
                {
                    "user": user if expand else reference("user", user),
                    "escalation_policy": reference("escalation_policy", policy),
                    "schedule": schedule and reference("schedule", schedule),
                    "escalation_level": 1,
                }
            )
        return self.paged(request, "oncalls", found)

    @route("GET", "/incidents")
    def list_incidents(self, request: FakeRequest) -> FakeResponse:
        statuses, urgencies = request.args("statuses[]"), request.args("urgencies[]")
        users, services = request.args("user_ids[]"), request.args("service_ids[]")
        found = [
            i
            for i in self.incidents
            if (not statuses or i["status"] in statuses)
            and (not urgencies or i["urgency"] in urgencies)
            and (not services or i["service"]["id"] in services)
            and (not users or any(a["assignee"]["id"] in users for a in i["assignments"]))
        ]
        return self.paged(request, "incidents", found)
