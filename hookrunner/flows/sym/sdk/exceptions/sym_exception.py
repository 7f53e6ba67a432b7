"""``sym.sdk.exceptions.sym_exception``: the same classes as ``sym.sdk.exceptions``."""

from . import ExceptionWithHint, SymException

__all__ = ["ExceptionWithHint", "SymException"]
