"""``get_step_output``: what the escalate or deescalate step left for the hooks after it."""

from __future__ import annotations

from typing import Any

from ..._context import document
from .approval import ApprovalTemplateStep

# The steps that write output, latest first.
OUTPUT_STEPS = (ApprovalTemplateStep.DEESCALATE.value, ApprovalTemplateStep.ESCALATE.value)


def get_step_output(step: ApprovalTemplateStep | str | None = None) -> dict[str, Any]:
    """The JSON object ``step`` wrote to ``HOOKRUNNER_STEP_OUTPUT`` (``{}`` when none).

    Without ``step``: the current step's output in an escalate or deescalate hook or
    strategy, otherwise the latest step's.
    """
    outputs = document().get("step_outputs") or {}
    if step is None:
        current = document().get("name")
        step = current if current in OUTPUT_STEPS else next(
            (name for name in OUTPUT_STEPS if name in outputs), OUTPUT_STEPS[-1]
        )  # fmt: skip
    name = step.value if isinstance(step, ApprovalTemplateStep) else str(step)
    output = outputs.get(name)
    return dict(output) if isinstance(output, dict) else {}


__all__ = ["get_step_output"]
