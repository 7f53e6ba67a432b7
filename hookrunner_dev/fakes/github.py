"""GitHub REST API (https://docs.github.com/rest): repository collaborators.

``Authorization: Bearer …``; ``per_page``/``page`` paging announced in ``Link``; errors as
``{"message", "documentation_url"}``; rate limits as 403/429 with ``x-ratelimit-*``.
"""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import urlencode

from hookrunner_dev.fakes.base import FakeApi, FakeRequest, FakeResponse, page, route

API_TOKEN = "ghp_fakeGitHubToken000000000000000000000"
DOCS = "https://docs.github.com/rest"


class FakeGitHub(FakeApi):
    def __init__(self, token: str = API_TOKEN) -> None:
        super().__init__(token)
        self.collaborators: dict[str, list[dict[str, Any]]] = {}  # "org/repo" -> people
        self.max_page = 2

    def add_collaborator(self, repo: str, login: str, role: str) -> None:
        self.collaborators.setdefault(repo, []).append(
            {"login": login, "id": len(login), "type": "User", "role_name": role}
        )

    def authorized(self, request: FakeRequest) -> bool:
        return request.headers.get("authorization") == f"Bearer {self.token}"

    @staticmethod
    def error(status: int, message: str, **headers: str) -> FakeResponse:
        return FakeResponse(status, {"message": message, "documentation_url": DOCS}, headers)

    def unauthorized(self) -> FakeResponse:
        return self.error(401, "Bad credentials")

    def not_found(self, request: FakeRequest) -> FakeResponse:
        return self.error(404, "Not Found")

    @classmethod
    def ratelimited(cls, seconds: int = 1) -> FakeResponse:
        headers = {
            "x-ratelimit-remaining": "0",
            "x-ratelimit-reset": str(int(time.time()) + seconds),
        }
        return cls.error(403, "API rate limit exceeded", **headers)

    @route("GET", "/repos/(?P<org>[^/]+)/(?P<repo>[^/]+)/collaborators")
    def list_collaborators(self, request: FakeRequest) -> FakeResponse:
        people = self.collaborators.get(f"{request.match['org']}/{request.match['repo']}")
        if people is None:
            return self.not_found(request)
        limit = min(int(request.arg("per_page", "30")), self.max_page)
        number = int(request.arg("page", "1"))
        chunk, following = page(people, (number - 1) * limit, limit)
        headers = {}
        if following is not None:
            query = urlencode({"per_page": limit, "page": number + 1})
            headers["Link"] = f'<{self.url}{request.path.lstrip("/")}?{query}>; rel="next"'
        return FakeResponse(200, chunk, headers)
