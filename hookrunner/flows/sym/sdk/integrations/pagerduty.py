"""PagerDuty (``sym.sdk.integrations.pagerduty``): calls go through ``call_integration``."""

from __future__ import annotations

from enum import Enum
from typing import Any

from ..user import User
from ._call import call_integration, users


class PagerDutyStatus(str, Enum):  # noqa: UP042 (StrEnum is Python 3.11+; hooks run on 3.9)
    TRIGGERED = "triggered"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"


class PagerDutyUrgency(str, Enum):  # noqa: UP042 (StrEnum is Python 3.11+; hooks run on 3.9)
    LOW = "low"
    HIGH = "high"


def is_on_call(
    user: User,
    *,
    escalation_policy_name: str | None = None,
    escalation_policy_id: str | None = None,
    schedule_name: str | None = None,
    schedule_id: str | None = None,
) -> bool:
    return bool(
        call_integration(
            "pagerduty",
            "is_on_call",
            user=user,
            escalation_policy_name=escalation_policy_name,
            escalation_policy_id=escalation_policy_id,
            schedule_name=schedule_name,
            schedule_id=schedule_id,
        )
    )


def users_on_call(
    *,
    escalation_policy_name: str | None = None,
    escalation_policy_id: str | None = None,
    schedule_name: str | None = None,
    schedule_id: str | None = None,
) -> list[User]:
    answer = call_integration(
        "pagerduty",
        "users_on_call",
        escalation_policy_name=escalation_policy_name,
        escalation_policy_id=escalation_policy_id,
        schedule_name=schedule_name,
        schedule_id=schedule_id,
    )
    return users(answer, "pagerduty")


def users_for_schedule(
    *, schedule_name: str | None = None, schedule_id: str | None = None
) -> list[User]:
    answer = call_integration(
        "pagerduty", "users_for_schedule", schedule_name=schedule_name, schedule_id=schedule_id
    )
    return users(answer, "pagerduty")


def get_incidents(
    *,
    assignees: list[User] | None = None,
    service_ids: list[str] | None = None,
    statuses: list[PagerDutyStatus] | None = None,
    urgencies: list[PagerDutyUrgency] | None = None,
    since: str | None = None,
    until: str | None = None,
) -> list[dict[str, Any]]:
    answer: list[dict[str, Any]] = call_integration(
        "pagerduty",
        "get_incidents",
        assignees=assignees,
        service_ids=service_ids,
        statuses=statuses,
        urgencies=urgencies,
        since=since,
        until=until,
    )
    return answer


def has_incident(
    *,
    assignees: list[User] | None = None,
    service_ids: list[str] | None = None,
    statuses: list[PagerDutyStatus] | None = None,
    urgencies: list[PagerDutyUrgency] | None = None,
    since: str | None = None,
    until: str | None = None,
) -> bool:
    return bool(
        call_integration(
            "pagerduty",
            "has_incident",
            assignees=assignees,
            service_ids=service_ids,
            statuses=statuses,
            urgencies=urgencies,
            since=since,
            until=until,
        )
    )


__all__ = [
    "PagerDutyStatus",
    "PagerDutyUrgency",
    "get_incidents",
    "has_incident",
    "is_on_call",
    "users_for_schedule",
    "users_on_call",
]
