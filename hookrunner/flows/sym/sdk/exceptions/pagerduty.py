"""``sym.sdk.exceptions.pagerduty``: the same classes as ``sym.sdk.exceptions``."""

from . import PagerDutyError

__all__ = ["PagerDutyError"]
