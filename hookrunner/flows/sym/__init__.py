"""hookrunner's implementation of Sym's ``sym`` package: the names a flow's ``impl.py`` imports.

The harness loads this tree as the top-level ``sym`` package of a hook process, ahead of
anything installed, so ``from sym.sdk.annotations import hook`` means hookrunner's runtime
even where ``sym-sdk`` (interface-only) is installed. Every import inside the tree is
relative, so it works under either name (``sym`` or ``hookrunner.flows.sym``). Standard
library only, Python 3.9 compatible.

The pre-1.0 names ``sym.annotations`` and ``sym.integrations`` are the current modules.
"""

import sys

from .sdk import annotations, integrations

for _alias, _module in (("annotations", annotations), ("integrations", integrations)):
    sys.modules[f"{__name__}.{_alias}"] = _module
    for _child_name, _child in list(sys.modules.items()):
        if _child_name.startswith(f"{_module.__name__}."):
            _suffix = _child_name[len(_module.__name__) :]
            sys.modules[f"{__name__}.{_alias}{_suffix}"] = _child

__all__ = ["annotations", "integrations"]
