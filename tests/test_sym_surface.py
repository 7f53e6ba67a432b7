"""The ``sym`` tree has the modules and public names of sym-sdk 0.61.0, in Python 3.9 form."""

from __future__ import annotations

import ast
import json
import subprocess
import sys

from hookrunner.flows.runner import HARNESS

TREE = HARNESS.with_name("sym")
# Every module of sym-sdk 0.61.0 and its public names (its __all__, classes and functions),
# read from the published wheel. Continuation lines are indented.
SURFACE = """
sym.sdk: AccessTarget ApprovalTemplate Channel Event EventMeta FieldOption Flow Payload
    PermissionLevel RequestDestination RequestDestinationFallback RequestPermission Run SRN
    SlackChannelID SlackChannelName SlackUser SlackUserGroup SymIntegrationError SymResource
    SymSDKError Template User UserIdentity UserRole aws_lambda github google hook okta onelogin
    pagerduty prefetch reducer slack
sym.sdk.annotations: hook prefetch reducer
sym.sdk.errors: SymIntegrationError SymSDKError
sym.sdk.event: Channel Event EventMeta Payload
sym.sdk.exceptions: AWSError AWSIAMError AWSLambdaError AWSSSOError AccessStrategyError
    AptibleError BoundaryError CouldNotSaveError ExceptionWithHint GitHubError GoogleError
    HTTPError IdentityError JiraError KnowBe4Error MissingArgument OktaError OneLoginError
    PagerDutyError SDKError SlackError SymException SymIntegrationError
sym.sdk.exceptions.access_strategy: AccessStrategyError
sym.sdk.exceptions.aptible: AptibleError
sym.sdk.exceptions.aws: AWSError AWSIAMError AWSLambdaError AWSSSOError
sym.sdk.exceptions.boundary: BoundaryError
sym.sdk.exceptions.github: GitHubError
sym.sdk.exceptions.google: GoogleError
sym.sdk.exceptions.http: HTTPError
sym.sdk.exceptions.identity: CouldNotSaveError IdentityError IdentityNotFound
sym.sdk.exceptions.jira: JiraError
sym.sdk.exceptions.knowbe4: KnowBe4Error
sym.sdk.exceptions.okta: OktaError
sym.sdk.exceptions.onelogin: OneLoginError
sym.sdk.exceptions.pagerduty: PagerDutyError
sym.sdk.exceptions.sdk: MissingArgument SDKError
sym.sdk.exceptions.slack: SlackError
sym.sdk.exceptions.sym_exception: ExceptionWithHint SymException
sym.sdk.exceptions.sym_integration: SymIntegrationError
sym.sdk.field_option:
sym.sdk.flow: Environment Flow Run
sym.sdk.forms: FieldOption FieldType PromptField SlackUserSelection SymPromptForm
sym.sdk.integrations: aws_iam aws_lambda aws_sso boundary github google knowbe4 okta onelogin
    pagerduty slack sym
sym.sdk.integrations.aws_iam: is_user_in_group
sym.sdk.integrations.aws_lambda: invoke invoke_async
sym.sdk.integrations.aws_sso: is_user_in_group list_accounts list_groups users_in_group
sym.sdk.integrations.boundary: get_group list_groups
sym.sdk.integrations.github: get_repo_collaborators
sym.sdk.integrations.google: is_user_in_group list_groups users_in_group
sym.sdk.integrations.jira: add_comment_to_issue create_issue search_issues
sym.sdk.integrations.knowbe4: get_training_enrollments_for_user is_user_in_group
sym.sdk.integrations.okta: get_user_info is_user_in_group list_groups users_in_group
sym.sdk.integrations.onelogin: get_user_info is_user_in_role list_roles users_in_role
sym.sdk.integrations.pagerduty: PagerDutyStatus PagerDutyUrgency get_incidents has_incident
    is_on_call users_for_schedule users_on_call
sym.sdk.integrations.slack: channel fallback get_user_info group is_user_in_group list_users
    mention send_message send_thread_message user users_in_channel
sym.sdk.integrations.store: fetch put
sym.sdk.integrations.sym: get_or_create_user_by_email get_or_create_users_by_emails
sym.sdk.models:
sym.sdk.notifications: Notification
sym.sdk.request_destination: RequestDestination RequestDestinationFallback RequestForwardContext
    SlackChannelID SlackChannelName SlackRequestDestination SlackUser SlackUserGroup
sym.sdk.request_permission: PermissionLevel RequestPermission
sym.sdk.resource: InvalidSRNError InvalidSlugError InvalidVersionError MissingComponentError
    MultipleErrors SRN SymBaseResource SymResource TrailingSeparatorError
sym.sdk.secret: Secret SecretSource
sym.sdk.strategies: AccessStrategy Integration
sym.sdk.strategies.access_strategy: AccessStrategy
sym.sdk.strategies.integration: Integration
sym.sdk.strategy: Strategy
sym.sdk.target: AccessTarget
sym.sdk.templates: ApprovalTemplate ApprovalTemplateStep Template TemplateStep get_step_output
sym.sdk.templates.approval: ApprovalTemplate ApprovalTemplateStep
sym.sdk.templates.step: get_step_output
sym.sdk.templates.template: Template TemplateStep
sym.sdk.user: User UserIdentity UserRole user_ids
sym.sdk.utils: persist_user_identity
sym.sdk.utils.user: persist_user_identity
"""
PROBE = """
import importlib, json, sys
sys.path.insert(0, sys.argv[1])
import harness
harness.load_tree()
missing = []
for module, names in json.loads(sys.argv[2]).items():
    loaded = importlib.import_module(module)
    missing += [f"{module}.{name}" for name in names if not hasattr(loaded, name)]
print(json.dumps(missing))
"""


def surface() -> dict[str, list[str]]:
    modules: dict[str, list[str]] = {}
    module = ""
    for line in SURFACE.strip().splitlines():
        if not line.startswith(" "):
            module, line = line.split(":", 1)
        modules.setdefault(module, []).extend(line.split())
    return modules


def test_every_module_and_name_of_sym_sdk_exists() -> None:
    modules = surface()
    assert len(modules) == 58 and sum(map(len, modules.values())) > 200
    probe = subprocess.run(
        [sys.executable, "-c", PROBE, str(HARNESS.parent), json.dumps(modules)],
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    assert json.loads(probe.stdout) == []


def test_the_tree_is_python_3_9_and_standard_library_only() -> None:
    stdlib = set(sys.stdlib_module_names)
    for path in [*sorted(TREE.rglob("*.py")), HARNESS]:
        source = path.read_text()
        tree = ast.parse(source, filename=str(path), feature_version=(3, 9))
        if any(isinstance(node, ast.FunctionDef) for node in ast.walk(tree)):
            # Annotations stay strings, so ``X | None`` never runs on 3.9.
            assert "from __future__ import annotations" in source, path
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                roots = {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                roots = {str(node.module).split(".")[0]}
            else:
                continue
            assert roots <= stdlib, f"{path}: imports {roots - stdlib}"
