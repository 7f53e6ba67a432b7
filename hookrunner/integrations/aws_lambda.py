"""AWS Lambda: ``invoke`` and ``invoke_async`` for flows and the ``aws_lambda`` strategy.

boto3 signs the calls (SigV4) with the daemon's usual AWS credential chain, so it is an
optional extra (``hookrunner[aws]``); without it the integration reports exactly that.
``api_url`` becomes boto3's ``endpoint_url`` (a local fake, a VPC endpoint).
"""

from __future__ import annotations

import importlib
import json
import time
from typing import Any

from hookrunner.config import IntegrationSettings
from hookrunner.integrations.errors import AWSLambdaError, SymIntegrationError
from hookrunner.integrations.http import CallPolicy, log_call


class AWSLambdaClient:
    hook_functions = frozenset({"invoke", "invoke_async"})

    def __init__(
        self, name: str, settings: IntegrationSettings, policy: CallPolicy | None = None
    ) -> None:
        self.name = name
        self.settings = settings
        policy = policy or CallPolicy()
        try:
            boto3: Any = importlib.import_module("boto3")
            self._botocore: Any = importlib.import_module("botocore")
            importlib.import_module("botocore.config")
            importlib.import_module("botocore.exceptions")
        except ImportError:
            raise SymIntegrationError(
                f"[integrations.{name}] type aws_lambda needs boto3: "
                "install hookrunner with the 'aws' extra",
                integration=name,
            ) from None
        config = self._botocore.config.Config(
            connect_timeout=policy.timeout,
            read_timeout=max(policy.timeout, 60.0),  # a synchronous invocation runs the function
            retries={"mode": "standard", "max_attempts": policy.max_attempts},
        )
        self._lambda = boto3.session.Session().client(
            "lambda",
            region_name=settings.region or None,
            endpoint_url=settings.api_url or None,
            config=config,
        )

    def invoke(self, arn: str, payload: Any = None) -> Any:
        """Run the function and return what it returned (JSON-decoded)."""
        response = self._call(arn, "RequestResponse", payload)
        body = response["Payload"].read()
        decoded = json.loads(body) if body else None
        if response.get("FunctionError"):
            detail = decoded.get("errorMessage", "") if isinstance(decoded, dict) else ""
            raise AWSLambdaError(
                f"{self.name}: {arn} failed ({response['FunctionError']}): {detail}",
                integration=self.name,
                status=int(response["StatusCode"]),
                code="FunctionError",
            )
        return decoded

    def invoke_async(self, arn: str, payload: Any = None) -> bool:
        """Queue the function; True when Lambda accepted the event."""
        return int(self._call(arn, "Event", payload)["StatusCode"]) == 202

    def _call(self, arn: str, invocation_type: str, payload: Any) -> dict[str, Any]:
        started = time.monotonic()
        errors = self._botocore.exceptions
        try:
            response: dict[str, Any] = self._lambda.invoke(
                FunctionName=arn,
                InvocationType=invocation_type,
                Payload=json.dumps(payload if payload is not None else {}).encode(),
            )
        except errors.ClientError as exc:
            error = exc.response.get("Error", {})
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            log_call(self.name, invocation_type, "Invoke", status, started, error="ClientError")
            raise AWSLambdaError(
                f"{self.name}: {error.get('Code', 'Error')}: {error.get('Message', '')}",
                integration=self.name,
                status=status,
                code=str(error.get("Code", "")),
            ) from None
        except errors.BotoCoreError as exc:
            log_call(self.name, invocation_type, "Invoke", None, started, error=type(exc).__name__)
            raise AWSLambdaError(
                f"{self.name}: {type(exc).__name__}: {exc}", integration=self.name
            ) from None
        log_call(self.name, invocation_type, "Invoke", int(response["StatusCode"]), started)
        return response

    def close(self) -> None:
        self._lambda.close()
