"""``hookrunner.sdk``: hookrunner's own name for the ``sym`` tree's objects.

Flows written for hookrunner import from here; the daemon reads the handler names.
"""

from ._names import HOOK_EVENTS, HOOK_NAMES, REDUCER_NAMES
from .sdk import *  # noqa: F403
from .sdk import __all__ as _sdk_names
from .sdk.notifications import Notification
from .sdk.strategies import AccessStrategy, Integration
from .sdk.templates import ApprovalTemplateStep, get_step_output

__all__ = [
    *_sdk_names,
    "HOOK_EVENTS",
    "HOOK_NAMES",
    "REDUCER_NAMES",
    "AccessStrategy",
    "ApprovalTemplateStep",
    "Integration",
    "Notification",
    "get_step_output",
]
