"""the key-value store (``sym.sdk.integrations.store``): calls go through ``call_integration``."""

from __future__ import annotations

from typing import Any

from ._call import call_integration


def fetch(path: str) -> Any:
    return call_integration("store", "fetch", path=path)


def put(path: str, value: Any) -> Any:
    return call_integration("store", "put", path=path, value=value)


__all__ = ["fetch", "put"]
