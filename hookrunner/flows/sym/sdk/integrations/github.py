"""GitHub (``sym.sdk.integrations.github``): calls go through ``call_integration``."""

from __future__ import annotations

from collections.abc import Iterable

from ..user import User
from ._call import call_integration, users


def get_repo_collaborators(*, repo_name: str, roles: Iterable[str]) -> list[User]:
    answer = call_integration(
        "github", "get_repo_collaborators", repo_name=repo_name, roles=list(roles)
    )
    return users(answer, "github")


__all__ = ["get_repo_collaborators"]
