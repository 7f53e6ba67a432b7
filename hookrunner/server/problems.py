"""RFC 9457 problem details: every error the API returns has this shape."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from hookrunner.journal import JournalError

PROBLEM_TYPE = "application/problem+json"
TITLES = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    409: "Conflict",
    413: "Content Too Large",
    415: "Unsupported Media Type",
    422: "Unprocessable Content",
    500: "Internal Server Error",
    503: "Service Unavailable",
}


class Problem(Exception):
    def __init__(
        self,
        status: int,
        detail: str,
        headers: dict[str, str] | None = None,
        problem_type: str = "about:blank",
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.headers = headers or {}
        self.problem_type = problem_type


def problem_response(
    status: int,
    detail: str,
    instance: str = "",
    headers: dict[str, str] | None = None,
    problem_type: str = "about:blank",
) -> JSONResponse:
    body: dict[str, Any] = {
        "type": problem_type,
        "title": TITLES.get(status, "Error"),
        "status": status,
        "detail": detail,
    }
    if instance:
        body["instance"] = instance
    return JSONResponse(body, status_code=status, media_type=PROBLEM_TYPE, headers=headers)


def journal_unavailable(exc: JournalError) -> Problem:
    """What a client gets when the journal refuses a write or a read (full disk, database
    away): retry later, nothing accepted is lost."""
    return Problem(503, f"the journal cannot take writes: {exc}", {"Retry-After": "30"})


def install_problem_handlers(app: FastAPI) -> None:
    async def on_problem(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, Problem)
        return problem_response(
            exc.status, exc.detail, request.url.path, exc.headers, exc.problem_type
        )

    async def on_http(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        return problem_response(exc.status_code, str(exc.detail), request.url.path)

    async def on_validation(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        first = exc.errors()[0] if exc.errors() else {"loc": (), "msg": "invalid request"}
        where = ".".join(str(part) for part in first["loc"])
        return problem_response(422, f"{where}: {first['msg']}", request.url.path)

    async def on_journal(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, JournalError)
        return await on_problem(request, journal_unavailable(exc))

    app.add_exception_handler(Problem, on_problem)
    app.add_exception_handler(JournalError, on_journal)
    app.add_exception_handler(StarletteHTTPException, on_http)
    app.add_exception_handler(RequestValidationError, on_validation)
