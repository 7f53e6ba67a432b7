"""The decorators that make a function of ``impl.py`` a handler the runtime calls."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from .._names import MARKER

F = TypeVar("F", bound=Callable[..., Any])


def hook(fn: F) -> F:
    """Mark ``fn`` as a hook: ``on_<step>`` runs before the step, ``after_<step>`` after it."""
    setattr(fn, MARKER, "hook")
    return fn


def reducer(fn: F) -> F:
    """Mark ``fn`` as a reducer (``get_permissions``, ``get_request_notifications``, …)."""
    setattr(fn, MARKER, "reducer")
    return fn


def prefetch(field_name: str) -> Callable[[F], F]:
    """Mark a function as the reducer returning the ``FieldOption``s of ``field_name``."""

    def decorator(fn: F) -> F:
        setattr(fn, MARKER, f"prefetch:{field_name}")
        return fn

    return decorator


__all__ = ["hook", "prefetch", "reducer"]
