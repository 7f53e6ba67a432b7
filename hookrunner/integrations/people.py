"""How every integration names a person to a flow: an e-mail plus the vendor's own id."""

from __future__ import annotations

from typing import Any


def person(email: str, vendor_id: str, name: str = "") -> dict[str, Any]:
    """A person as the hook-side SDK turns it into a ``User`` (by ``email``)."""
    return {"email": email, "id": vendor_id, "name": name}
