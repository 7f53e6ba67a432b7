from sym.sdk.annotations import reducer
from sym.sdk.integrations import datadog  # noqa: F401  (not an integration of the SDK)


@reducer
def get_approvers(event):
    return ["boss@acme.io"]
