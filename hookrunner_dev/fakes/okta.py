"""Okta management API (https://developer.okta.com/docs/api/): users, groups, memberships.

``Authorization: SSWS …``; ``limit``/``after`` paging announced in ``Link`` headers;
errors as ``{"errorCode", "errorSummary", "errorLink", "errorId", "errorCauses"}``;
a 429 carries ``X-Rate-Limit-Reset`` in epoch seconds.
"""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import urlencode

from hookrunner_dev.fakes.base import FakeApi, FakeRequest, FakeResponse, page, route

API_TOKEN = "00fakeOktaApiToken0000000000000000000000"


class FakeOkta(FakeApi):
    def __init__(self, token: str = API_TOKEN) -> None:
        super().__init__(token)
        self.users: list[dict[str, Any]] = []
        self.groups: list[dict[str, Any]] = []
        self.members: dict[str, list[str]] = {}  # group id -> user ids
        self.max_page = 2
        self.link_base = ""  # "" = this server; a test points it elsewhere

    def add_user(self, user_id: str, email: str) -> None:
        first = email.split("@")[0]
        profile = {"login": email, "email": email, "firstName": first, "lastName": "Acme"}
        self.users.append({"id": user_id, "status": "ACTIVE", "profile": profile})

    def add_group(self, group_id: str, name: str, kind: str = "OKTA_GROUP") -> None:
        self.groups.append({"id": group_id, "type": kind, "profile": {"name": name}})
        self.members[group_id] = []

    # -- the wire format ---------------------------------------------------------------

    def authorized(self, request: FakeRequest) -> bool:
        return request.headers.get("authorization") == f"SSWS {self.token}"

    @staticmethod
    def error(status: int, code: str, summary: str, **headers: str) -> FakeResponse:
        body = {
            "errorCode": code,
            "errorSummary": summary,
            "errorLink": code,
            "errorId": "oaeFakeErrorId",
            "errorCauses": [],
        }
        return FakeResponse(status, body, headers)

    def unauthorized(self) -> FakeResponse:
        return self.error(401, "E0000011", "Invalid token provided")

    def not_found(self, request: FakeRequest, kind: str = "") -> FakeResponse:
        what = f"{request.path.rsplit('/', 1)[-1]} ({kind})" if kind else request.path
        return self.error(404, "E0000007", f"Not found: Resource not found: {what}")

    @classmethod
    def ratelimited(cls, seconds: int = 1) -> FakeResponse:
        reset = str(int(time.time()) + seconds)
        summary = "API call exceeded rate limit due to too many requests."
        return cls.error(429, "E0000047", summary, **{"X-Rate-Limit-Reset": reset})

    def paged(self, request: FakeRequest, items: list[Any]) -> FakeResponse:
        limit = min(int(request.arg("limit", "200")), self.max_page)
        start = int(request.arg("after", "0"))
        chunk, following = page(items, start, limit)
        base = self.link_base or self.url
        here = f"{base}{request.path.lstrip('/')}"
        links = [f'<{here}?{urlencode({"limit": limit, "after": start})}>; rel="self"']
        if following is not None:
            links.append(f'<{here}?{urlencode({"limit": limit, "after": following})}>; rel="next"')
        return FakeResponse(200, chunk, {"Link": ", ".join(links)})

    def _user(self, key: str) -> dict[str, Any] | None:
        for user in self.users:
            if key in (user["id"], user["profile"]["login"]):
                return user
        return None

    def _group(self, key: str) -> dict[str, Any] | None:
        return next((g for g in self.groups if g["id"] == key), None)

    # -- endpoints ---------------------------------------------------------------------

    @route("GET", "/api/v1/users/(?P<user>[^/]+)")
    def get_user(self, request: FakeRequest) -> FakeResponse:
        user = self._user(request.match["user"])
        return FakeResponse(200, user) if user else self.not_found(request, "User")

    @route("GET", "/api/v1/users/(?P<user>[^/]+)/groups")
    def user_groups(self, request: FakeRequest) -> FakeResponse:
        uid = request.match["user"]
        if self._user(uid) is None:
            return self.not_found(request, "User")
        return self.paged(request, [g for g in self.groups if uid in self.members[g["id"]]])

    @route("GET", "/api/v1/groups")
    def list_groups(self, request: FakeRequest) -> FakeResponse:
        query = request.arg("q", "").lower()
        found = [g for g in self.groups if g["profile"]["name"].lower().startswith(query)]
        return self.paged(request, found)

    @route("GET", "/api/v1/groups/(?P<group>[^/]+)")
    def get_group(self, request: FakeRequest) -> FakeResponse:
        group = self._group(request.match["group"])
        return FakeResponse(200, group) if group else self.not_found(request, "UserGroup")

    @route("GET", "/api/v1/groups/(?P<group>[^/]+)/users")
    def group_users(self, request: FakeRequest) -> FakeResponse:
        gid = request.match["group"]
        if gid not in self.members:
            return self.not_found(request, "UserGroup")
        return self.paged(request, [u for u in self.users if u["id"] in self.members[gid]])

    @route("PUT,DELETE", "/api/v1/groups/(?P<group>[^/]+)/users/(?P<user>[^/]+)")
    def membership(self, request: FakeRequest) -> FakeResponse:
        gid, uid = request.match["group"], request.match["user"]
        if gid not in self.members:
            return self.not_found(request, "UserGroup")
        if self._user(uid) is None:
            return self.not_found(request, "User")
        group = self.members[gid]
        if request.method == "PUT" and uid not in group:
            group.append(uid)
        if request.method == "DELETE" and uid in group:
            group.remove(uid)
        return FakeResponse(204)
