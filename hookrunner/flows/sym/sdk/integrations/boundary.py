"""HashiCorp Boundary (``sym.sdk.integrations.boundary``): calls go through ``call_integration``."""

from __future__ import annotations

from typing import Any

from ._call import call_integration


def list_groups(
    scope_id: str = "global", filter: str | None = None, recursive: bool = False
) -> list[dict[str, Any]]:
    answer: list[dict[str, Any]] = call_integration(
        "boundary", "list_groups", scope_id=scope_id, filter=filter, recursive=recursive
    )
    return answer


def get_group(group_id: str) -> dict[str, Any]:
    answer: dict[str, Any] = call_integration("boundary", "get_group", group_id=group_id)
    return answer


__all__ = ["get_group", "list_groups"]
