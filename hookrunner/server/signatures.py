"""Webhook signature checks: Standard Webhooks / Svix, GitHub, GitLab, Gitea, Slack.

Every comparison is constant-time, and a signature must verify the exact bytes received.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import time
from collections.abc import Mapping


class SignatureError(Exception):
    """The request is not signed by someone holding the secret."""


def _standard_key(secret: str) -> bytes:
    raw = secret.removeprefix("whsec_")
    try:
        return base64.b64decode(raw, validate=True)
    except (binascii.Error, ValueError):
        return secret.encode()


def _header(headers: Mapping[str, str], name: str) -> str:
    """``webhook-<name>`` or Svix's ``svix-<name>``."""
    return headers.get(f"webhook-{name}") or headers.get(f"svix-{name}") or ""


def verify_standard_webhook(
    secret: str, headers: Mapping[str, str], body: bytes, tolerance: float, now: float | None = None
) -> str:
    """Check a Standard Webhooks signature; return the message id for dedup."""
    message_id = _header(headers, "id")
    timestamp = _header(headers, "timestamp")
    signatures = _header(headers, "signature")
    if not (message_id and timestamp and signatures):
        raise SignatureError("missing webhook-id, webhook-timestamp or webhook-signature")
    try:
        sent_at = int(timestamp)
    except ValueError:
        raise SignatureError("webhook-timestamp is not an integer") from None
    if abs((time.time() if now is None else now) - sent_at) > tolerance:
        raise SignatureError("webhook-timestamp is outside the tolerance")
    signed = f"{message_id}.{timestamp}.".encode() + body
    expected = base64.b64encode(hmac.new(_standard_key(secret), signed, hashlib.sha256).digest())
    matched = False
    for candidate in signatures.split():
        version, _, value = candidate.partition(",")
        if version == "v1" and hmac.compare_digest(value.encode(), expected):
            matched = True
    if not matched:
        raise SignatureError("no signature matches")
    return message_id


def _hex_hmac(secret: str, body: bytes) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify_git_webhook(
    secret: str, headers: Mapping[str, str], body: bytes, tolerance: float
) -> str | None:
    """Check whichever forge signed the push; return a delivery id for dedup, if any.

    The id carries the forge's name: two forges may number their deliveries alike."""
    if github := headers.get("x-hub-signature-256"):
        if not hmac.compare_digest(github.encode(), f"sha256={_hex_hmac(secret, body)}".encode()):
            raise SignatureError("X-Hub-Signature-256 does not match")
        delivery = headers.get("x-github-delivery")
        return f"github:{delivery}" if delivery else None
    if gitea := headers.get("x-gitea-signature"):
        if not hmac.compare_digest(gitea.encode(), _hex_hmac(secret, body).encode()):
            raise SignatureError("X-Gitea-Signature does not match")
        delivery = headers.get("x-gitea-delivery")
        return f"gitea:{delivery}" if delivery else None
    if gitlab := headers.get("x-gitlab-token"):
        if not hmac.compare_digest(gitlab.encode(), secret.encode()):
            raise SignatureError("X-Gitlab-Token does not match")
        delivery = headers.get("x-gitlab-event-uuid")
        return f"gitlab:{delivery}" if delivery else None
    if _header(headers, "signature"):
        return f"webhook:{verify_standard_webhook(secret, headers, body, tolerance)}"
    raise SignatureError("no signature header")


def verify_slack(
    secrets: list[tuple[str, str]],
    headers: Mapping[str, str],
    body: bytes,
    tolerance: float,
    now: float | None = None,
) -> tuple[str, str]:
    """Check Slack's ``X-Slack-Signature`` (v0: HMAC-SHA256 of ``v0:{timestamp}:{body}``)
    against each ``(table, signing secret)``; return the table that signed, and the
    signature (a replay carries the same one)."""
    timestamp = headers.get("x-slack-request-timestamp", "")
    signature = headers.get("x-slack-signature", "")
    if not (timestamp and signature):
        raise SignatureError("missing X-Slack-Request-Timestamp or X-Slack-Signature")
    try:
        sent_at = int(timestamp)
    except ValueError:
        raise SignatureError("X-Slack-Request-Timestamp is not an integer") from None
    if abs((time.time() if now is None else now) - sent_at) > tolerance:
        raise SignatureError("X-Slack-Request-Timestamp is outside the tolerance")
    signed = f"v0:{timestamp}:".encode() + body
    found = None
    for table, secret in secrets:
        expected = f"v0={_hex_hmac(secret, signed)}"
        if hmac.compare_digest(signature.encode(), expected.encode()) and found is None:
            found = table
    if found is None:
        raise SignatureError("X-Slack-Signature does not match")
    return found, signature
