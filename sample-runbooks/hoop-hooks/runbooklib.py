"""Helpers shared by every hook in this repository (standard library only).

The session hooks import it as a sibling module; flow hooks and runbooks put this
directory on ``sys.path`` first (see ``flows/prod-db/impl.py``).

The exit-code contract of hookrunner: 0 done, 75 try again later (the daemon retries
with backoff), anything else failed for good.
"""

import json
import os
import sys
import urllib.error
import urllib.request

EX_OK = 0
EX_FAILED = 1
EX_TEMPFAIL = 75


def load_event():
    """The session payload, from the env var or, when it was truncated, from its file."""
    path = os.environ.get("HOOP_RUNBOOK_HOOK_PAYLOAD_FILE")
    if path:
        with open(path) as handle:
            return json.load(handle)
    return json.loads(os.environ["HOOP_RUNBOOK_HOOK_PAYLOAD"])


def audit_line(kind, event, **fields):
    """One JSON line for the run's output: the daemon keeps it with the run."""
    return json.dumps({"event": kind, "sid": event["sid"], "id": event["id"], **fields})


def send_json(method, url, body=None, token="", timeout=10.0):
    """Send ``body`` as JSON; the exit code the hook should end with.

    5xx, 429, a timeout or no connection → 75, so the daemon retries; another 4xx → 1,
    because sending the same request again would fail the same way.
    """
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method)
    request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            print(f"{method} {url}: {response.status}")
            return EX_OK
    except urllib.error.HTTPError as error:
        retry = error.code >= 500 or error.code == 429
        print(f"{method} {url}: HTTP {error.code}", file=sys.stderr)
        return EX_TEMPFAIL if retry else EX_FAILED
    except (urllib.error.URLError, TimeoutError, OSError) as error:
        print(f"{method} {url}: {error}", file=sys.stderr)
        return EX_TEMPFAIL


def notify(text):
    """Post ``text`` to the chat webhook in ``NOTIFY_URL``; print it when there is none."""
    url = os.environ.get("NOTIFY_URL", "")
    if not url:
        print(f"(NOTIFY_URL not set) {text}")
        return EX_OK
    return send_json("POST", url, {"text": text}, os.environ.get("NOTIFY_TOKEN", ""))


def access_api(method, path, body=None):
    """Call the access API that grants and removes roles (``ACCESS_API_URL``)."""
    base = os.environ.get("ACCESS_API_URL", "")
    if not base:
        print("ACCESS_API_URL is not set: cannot change access", file=sys.stderr)
        return EX_FAILED
    token = os.environ.get("ACCESS_API_TOKEN", "")
    return send_json(method, base.rstrip("/") + path, body, token)


def flow_event():
    """The flow event a runbook was started with (``HOOKRUNNER_FLOW_EVENT``)."""
    return json.loads(os.environ["HOOKRUNNER_FLOW_EVENT"])


def grant(event):
    """Grant the flow's role to the requester for the request's duration."""
    request = event["request"]
    return access_api("POST", "/grants", {
        "request_id": request["id"],
        "user": request["requester"]["email"],
        "role": event["flow"]["vars"]["role"],
        "duration_s": request["duration_s"],
    })


def revoke(event):
    """Remove what :func:`grant` gave; a grant that is already gone counts as removed."""
    return access_api("DELETE", f"/grants/{event['request']['id']}")
