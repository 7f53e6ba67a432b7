"""Jira (``sym.sdk.integrations.jira``): calls go through ``call_integration``."""

from __future__ import annotations

from typing import Any

from ._call import call_integration


def search_issues(
    jql: str, fields: list[str] | None = None, expand: list[str] | None = None
) -> list[dict[str, Any]]:
    answer: list[dict[str, Any]] = call_integration(
        "jira", "search_issues", jql=jql, fields=fields, expand=expand
    )
    return answer


def add_comment_to_issue(
    issue_id_or_key: str, comment: str, expand: list[str] | None = None
) -> None:
    call_integration(
        "jira",
        "add_comment_to_issue",
        issue_id_or_key=issue_id_or_key,
        comment=comment,
        expand=expand,
    )


def create_issue(
    title: str,
    project_key: str,
    issue_type_name: str,
    description: str | None = None,
    due_date: str | None = None,
    labels: list[str] | None = None,
    parent_issue_id_or_key: str | None = None,
    priority_id: str | None = None,
    custom_fields: dict[str, Any] | None = None,
) -> str:
    answer: str = call_integration(
        "jira",
        "create_issue",
        title=title,
        project_key=project_key,
        issue_type_name=issue_type_name,
        description=description,
        due_date=due_date,
        labels=labels,
        parent_issue_id_or_key=parent_issue_id_or_key,
        priority_id=priority_id,
        custom_fields=custom_fields,
    )
    return answer


__all__ = ["add_comment_to_issue", "create_issue", "search_issues"]
