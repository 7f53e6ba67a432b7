"""The one error of hook environments: whatever goes wrong, the commit is not published."""

from __future__ import annotations

from hookrunner.repo import PublishRefused


class EnvironmentBuildError(PublishRefused):
    """A hook environment cannot be built or used: which file (or setting), where, and why."""

    def __init__(self, source: str, detail: str, line: int = 0) -> None:
        self.source = source
        self.detail = detail
        self.line = line
        super().__init__(f"{source}{f':{line}' if line else ''}: {detail}")
