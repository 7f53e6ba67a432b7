"""``sym.sdk.field_option``: ``FieldOption`` under its older module name."""

from .forms import FieldOption

__all__ = ["FieldOption"]
