"""KnowBe4 (``sym.sdk.integrations.knowbe4``): calls go through ``call_integration``."""

from __future__ import annotations

from typing import Any

from ..user import User
from ._call import call_integration


def get_training_enrollments_for_user(
    user: User, store_purchase_id: int | None = None, campaign_id: int | None = None
) -> list[dict[str, Any]]:
    answer: list[dict[str, Any]] = call_integration(
        "knowbe4",
        "get_training_enrollments_for_user",
        user=user,
        store_purchase_id=store_purchase_id,
        campaign_id=campaign_id,
    )
    return answer


def is_user_in_group(user: User, group_id: int) -> bool:
    return bool(call_integration("knowbe4", "is_user_in_group", user=user, group_id=group_id))


__all__ = ["get_training_enrollments_for_user", "is_user_in_group"]
