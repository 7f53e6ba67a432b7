"""Calls every integration function; none may answer None while hookrunner cannot reach it."""

from sym.sdk.annotations import hook
from sym.sdk.errors import SymIntegrationError
from sym.sdk.integrations import (
    aws_iam,
    aws_lambda,
    aws_sso,
    boundary,
    github,
    google,
    jira,
    knowbe4,
    okta,
    onelogin,
    pagerduty,
    slack,
    store,
    sym,
)
from sym.sdk.secret import Secret, SecretSource
from sym.sdk.templates import ApprovalTemplate


def calls(user):
    return {
        "aws_iam.is_user_in_group": lambda: aws_iam.is_user_in_group(user, group_name="g"),
        "aws_lambda.invoke": lambda: aws_lambda.invoke("arn:aws:lambda:x", {"a": 1}),
        "aws_lambda.invoke_async": lambda: aws_lambda.invoke_async("arn:aws:lambda:x"),
        "aws_sso.is_user_in_group": lambda: aws_sso.is_user_in_group(user, group_name="g"),
        "aws_sso.list_groups": aws_sso.list_groups,
        "aws_sso.users_in_group": lambda: aws_sso.users_in_group("g"),
        "aws_sso.list_accounts": aws_sso.list_accounts,
        "boundary.list_groups": boundary.list_groups,
        "boundary.get_group": lambda: boundary.get_group("g"),
        "github.get_repo_collaborators": lambda: github.get_repo_collaborators(
            repo_name="r", roles=["admin"]
        ),
        "google.is_user_in_group": lambda: google.is_user_in_group(user, group_email="g@x.io"),
        "google.list_groups": google.list_groups,
        "google.users_in_group": lambda: google.users_in_group("g@x.io"),
        "jira.search_issues": lambda: jira.search_issues("project = OPS"),
        "jira.add_comment_to_issue": lambda: jira.add_comment_to_issue("OPS-1", "hi"),
        "jira.create_issue": lambda: jira.create_issue("t", "OPS", "Task"),
        "knowbe4.get_training_enrollments_for_user": lambda: (
            knowbe4.get_training_enrollments_for_user(user)
        ),
        "knowbe4.is_user_in_group": lambda: knowbe4.is_user_in_group(user, 7),
        "okta.is_user_in_group": lambda: okta.is_user_in_group(user, group_id="00g"),
        "okta.users_in_group": lambda: okta.users_in_group(group_id="00g"),
        "okta.get_user_info": lambda: okta.get_user_info(user),
        "okta.list_groups": okta.list_groups,
        "onelogin.list_roles": onelogin.list_roles,
        "onelogin.get_user_info": lambda: onelogin.get_user_info(user),
        "onelogin.users_in_role": lambda: onelogin.users_in_role(1),
        "onelogin.is_user_in_role": lambda: onelogin.is_user_in_role(user, role_id=1),
        "pagerduty.is_on_call": lambda: pagerduty.is_on_call(user, schedule_id="S1"),
        "pagerduty.users_on_call": lambda: pagerduty.users_on_call(schedule_id="S1"),
        "pagerduty.users_for_schedule": lambda: pagerduty.users_for_schedule(schedule_id="S1"),
        "pagerduty.get_incidents": lambda: pagerduty.get_incidents(
            statuses=[pagerduty.PagerDutyStatus.TRIGGERED]
        ),
        "pagerduty.has_incident": lambda: pagerduty.has_incident(
            urgencies=[pagerduty.PagerDutyUrgency.HIGH]
        ),
        "slack.send_message": lambda: slack.send_message(slack.channel("#x"), "hi"),
        "slack.send_thread_message": lambda: slack.send_thread_message("hi"),
        "slack.get_user_info": lambda: slack.get_user_info(user),
        "slack.list_users": slack.list_users,
        "slack.is_user_in_group": lambda: slack.is_user_in_group(user, group_id="S1"),
        "slack.users_in_channel": lambda: slack.users_in_channel("#x"),
        "store.fetch": lambda: store.fetch("a/b"),
        "store.put": lambda: store.put("a/b", 1),
        "sym.get_or_create_user_by_email": lambda: sym.get_or_create_user_by_email("a@x.io"),
        "sym.get_or_create_users_by_emails": lambda: sym.get_or_create_users_by_emails(["a@x.io"]),
        "user.get_event_count": lambda: user.get_event_count("approve"),
        "secret.retrieve_value": Secret("s1", "/db/pw", SecretSource("aws")).retrieve_value,
    }


@hook
def on_request(event):
    answers = {}
    for name, call in calls(event.user).items():
        try:
            answers[name] = f"returned {call()!r}"
        except SymIntegrationError as error:
            answers[name] = str(error)
    return ApprovalTemplate.ignore(message="integrations", **answers)
