"""A request's fields checked at intake against the flow's ``[[fields]]`` and ``[[targets]]``.

Whatever is stored must be valid JSON that any list of requests can serialise again,
so non-finite numbers and strings that are not Unicode text (a lone surrogate) are
refused here, along with a missing required field, a value of the wrong type, one
outside ``allowed_values`` and an unknown target: all :class:`Invalid`, answered 422.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from hookrunner.flows.definition import FlowSettings, PromptField, parse_duration
from hookrunner.flows.errors import Invalid
from hookrunner.flows.identity import canonical_email

TARGET_FIELD = "target"
# Every event carries the fields in one environment variable (capped at 128 KiB), with
# room left for the rest of the event.
MAX_FIELDS_BYTES = 64 * 1024


def check_text(value: str, where: str) -> str:
    """``value`` if it is Unicode text that encodes as UTF-8; :class:`Invalid` if not."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise Invalid(f"{where}: not valid Unicode text (a lone surrogate)") from None
    return value


def check_plain(value: Any, where: str) -> Any:
    """``value`` if it is JSON that serialises again: finite numbers, Unicode text."""
    if isinstance(value, float) and not math.isfinite(value):
        raise Invalid(f"{where}: {value} is not a finite number")
    if isinstance(value, str):
        check_text(value, where)
    elif isinstance(value, list):
        for item in value:
            check_plain(item, where)
    elif isinstance(value, dict):
        for key, item in value.items():
            check_plain(item, f"{where}.{check_text(str(key), where)}")
    return value


def _from_text(kind: str, value: Any) -> Any:
    """An int or bool given as text (a CLI ``--field rows=3``, a form) as its value."""
    if not isinstance(value, str):
        return value
    if kind == "int" and re.fullmatch(r"-?[0-9]{1,18}", value):
        return int(value)
    if kind == "bool" and value.lower() in ("true", "false"):
        return value.lower() == "true"
    return value


def _typed(field: PromptField, value: Any, settings: FlowSettings) -> Any:
    where = f"fields.{field.name}"
    kind = field.type
    value = _from_text(kind, value)
    if kind in ("string", "target") and not isinstance(value, str):
        raise Invalid(f"{where}: must be a string")
    if kind == "int" and (isinstance(value, bool) or not isinstance(value, int)):
        raise Invalid(f"{where}: must be an integer")
    if kind == "bool" and not isinstance(value, bool):
        raise Invalid(f"{where}: must be true or false")
    if kind == "list" and not isinstance(value, list):
        raise Invalid(f"{where}: must be a list")
    if kind == "duration":
        try:
            value = parse_duration(value)
        except ValueError as exc:
            raise Invalid(f"{where}: {exc}") from None
    if kind == "user":
        if not isinstance(value, str):
            raise Invalid(f"{where}: must be an e-mail address")
        value = canonical_email(value)
    if kind == "target" and value not in {target.name for target in settings.targets}:
        raise Invalid(f"{where}: {value!r} is not a target of this flow")
    allowed = field.allowed_values
    if allowed is not None:
        outside = [item for item in (value if kind == "list" else [value]) if item not in allowed]
        if outside:
            raise Invalid(f"{where}: {outside[0]!r} is not one of {allowed!r}")
    return value


def _declared(settings: FlowSettings) -> list[PromptField]:
    """The declared fields, plus the implicit required ``target`` of a flow with targets."""
    fields = list(settings.fields)
    if settings.targets and not any(f.type == "target" for f in fields):
        fields.append(PromptField(name=TARGET_FIELD, type="target", required=True))
    return fields


def check_fields(settings: FlowSettings, fields: dict[str, Any]) -> dict[str, Any]:
    """The fields to store: checked, typed where declared, defaults filled in.

    Fields the flow does not declare pass through (a ``reason``, a ticket number), as
    plain JSON.
    """
    checked = {
        check_text(key, "fields"): check_plain(v, f"fields.{key}") for key, v in fields.items()
    }
    if len(json.dumps(checked).encode()) > MAX_FIELDS_BYTES:
        raise Invalid(f"fields: more than {MAX_FIELDS_BYTES} bytes as JSON")
    for field in _declared(settings):
        value = checked.get(field.name)
        if value is None and field.default is not None:
            checked[field.name] = field.default
        elif value is None:
            if field.required:
                raise Invalid(f"fields.{field.name}: required")
            checked.pop(field.name, None)
        else:
            checked[field.name] = _typed(field, value, settings)
    return checked
