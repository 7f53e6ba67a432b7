"""``sym.sdk.exceptions.identity``: the same classes as ``sym.sdk.exceptions``."""

from . import CouldNotSaveError, IdentityError, IdentityNotFound

__all__ = ["CouldNotSaveError", "IdentityError", "IdentityNotFound"]
