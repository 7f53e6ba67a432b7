"""The AWS Lambda client (boto3) against a local fake of the Invoke API."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from hookrunner.config import IntegrationSettings
from hookrunner.integrations.aws_lambda import AWSLambdaClient
from hookrunner.integrations.errors import AWSLambdaError
from hookrunner.integrations.http import CallPolicy
from hookrunner_dev.fakes.aws_lambda import ACCESS_KEY_ID, SECRET_ACCESS_KEY, FakeLambda

pytest.importorskip("boto3")
ARN = "arn:aws:lambda:eu-west-1:123456789012:function:grant"


def grant(payload: Any) -> Any:
    if payload.get("user") == "mallory@acme.io":
        raise PermissionError("not this one")
    return {"granted": payload["user"]}


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeLambda]:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", ACCESS_KEY_ID)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET_ACCESS_KEY)
    fake = FakeLambda()
    fake.functions[ARN] = grant
    yield fake.start()
    fake.stop()


def client(fake: FakeLambda) -> AWSLambdaClient:
    settings = IntegrationSettings(type="aws_lambda", api_url=fake.url, region="eu-west-1")
    return AWSLambdaClient("aws_lambda", settings, CallPolicy(max_attempts=1))


def test_invoke_returns_the_functions_result(fake: FakeLambda) -> None:
    assert client(fake).invoke(ARN, {"user": "dev@acme.io"}) == {"granted": "dev@acme.io"}
    sent = fake.requests[0]
    assert sent.headers["x-amz-invocation-type"] == "RequestResponse"


def test_invoke_async_queues_the_event(fake: FakeLambda) -> None:
    assert client(fake).invoke_async(ARN, {"user": "dev@acme.io"}) is True
    assert fake.events == [(ARN, {"user": "dev@acme.io"})]


def test_failures_are_aws_lambda_errors(fake: FakeLambda, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(AWSLambdaError, match="not this one") as failed:
        client(fake).invoke(ARN, {"user": "mallory@acme.io"})
    assert failed.value.code == "FunctionError"
    with pytest.raises(AWSLambdaError) as missing:
        client(fake).invoke(ARN + "-nope")
    assert (missing.value.status, missing.value.code) == (404, "ResourceNotFoundException")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAWRONG")
    with pytest.raises(AWSLambdaError) as refused:
        client(fake).invoke(ARN, {"user": "dev@acme.io"})
    assert refused.value.code == "UnrecognizedClientException"
    assert SECRET_ACCESS_KEY not in str(refused.value)
