"""Integrations (``sym.sdk.integrations``): one module per service a flow may call."""

from . import (
    aws_iam,
    aws_lambda,
    aws_sso,
    boundary,
    github,
    google,
    knowbe4,
    okta,
    onelogin,
    pagerduty,
    slack,
    sym,
)
from . import (
    jira as jira,  # a module of Sym's too, outside its __all__
)
from . import (
    store as store,
)

__all__ = [
    "aws_iam",
    "aws_lambda",
    "aws_sso",
    "boundary",
    "github",
    "google",
    "knowbe4",
    "okta",
    "onelogin",
    "pagerduty",
    "slack",
    "sym",
]
