"""The one executor shared by session hooks, flow hooks, runbooks and dry-runs."""

from hookrunner.execution.environment import hook_environment
from hookrunner.execution.errors import IsolationUnavailable
from hookrunner.execution.executor import EX_TEMPFAIL, Outcome, RunSpec, execute
from hookrunner.execution.isolation import Isolation
from hookrunner.execution.limits import Limits
from hookrunner.execution.result import RETRYABLE, RunResult, RunStatus
from hookrunner.execution.warm import WarmPolicy

__all__ = [
    "EX_TEMPFAIL",
    "RETRYABLE",
    "Isolation",
    "IsolationUnavailable",
    "Limits",
    "Outcome",
    "RunResult",
    "RunSpec",
    "RunStatus",
    "WarmPolicy",
    "execute",
    "hook_environment",
]
