"""What this hook process knows beyond the ``Event`` object: the run's event document.

The harness sets it once before importing ``impl.py``; ``get_step_output`` and the
integration calls read it. A hook process runs one handler, so one module-level slot
is the whole story.
"""

from __future__ import annotations

from typing import Any

_document: dict[str, Any] = {}


def set_document(document: dict[str, Any]) -> None:
    _document.clear()
    _document.update(document)


def document() -> dict[str, Any]:
    """The event document of this run (``{}`` outside a hook process)."""
    return _document
