"""AWS Lambda's Invoke API (https://docs.aws.amazon.com/lambda/latest/api/API_Invoke.html).

``POST /2015-03-31/functions/{FunctionName}/invocations`` signed with SigV4 (checked here
by its access key id); ``X-Amz-Invocation-Type`` ``RequestResponse`` (200 and the result)
or ``Event`` (202); a function that raised answers 200 with ``X-Amz-Function-Error``;
errors carry ``x-amzn-ErrorType`` and ``{"Type", "message"}``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from hookrunner_dev.fakes.base import FakeApi, FakeRequest, FakeResponse, route

ACCESS_KEY_ID = "AKIAFAKEFAKEFAKE0000"
SECRET_ACCESS_KEY = "fake/secret/access/key/000000000000000"


class FakeLambda(FakeApi):
    def __init__(self) -> None:
        super().__init__(ACCESS_KEY_ID)
        self.functions: dict[str, Callable[[Any], Any]] = {}
        self.events: list[tuple[str, Any]] = []

    def authorized(self, request: FakeRequest) -> bool:
        signature = request.headers.get("authorization", "")
        return signature.startswith(f"AWS4-HMAC-SHA256 Credential={self.token}/")

    @staticmethod
    def error(status: int, kind: str, message: str) -> FakeResponse:
        return FakeResponse(
            status, {"Type": "User", "message": message}, {"x-amzn-ErrorType": kind}
        )

    def unauthorized(self) -> FakeResponse:
        message = "The security token included in the request is invalid."
        return self.error(403, "UnrecognizedClientException", message)

    @route("POST", "/2015-03-31/functions/(?P<function>.+)/invocations")
    def invoke(self, request: FakeRequest) -> FakeResponse:
        name = request.match["function"]
        function = self.functions.get(name)
        if function is None:
            return self.error(404, "ResourceNotFoundException", f"Function not found: {name}")
        payload = json.loads(request.body or b"null")
        if request.headers.get("x-amz-invocation-type") == "Event":
            self.events.append((name, payload))
            return FakeResponse(202)
        try:
            return FakeResponse(200, function(payload))
        except Exception as exc:  # the function's own failure, as Lambda reports it
            body = {"errorMessage": str(exc), "errorType": type(exc).__name__}
            return FakeResponse(200, body, {"X-Amz-Function-Error": "Unhandled"})
