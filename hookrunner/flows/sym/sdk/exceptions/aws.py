"""``sym.sdk.exceptions.aws``: the same classes as ``sym.sdk.exceptions``."""

from . import AWSError, AWSIAMError, AWSLambdaError, AWSSSOError

__all__ = ["AWSError", "AWSIAMError", "AWSLambdaError", "AWSSSOError"]
