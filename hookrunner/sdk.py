"""What a flow's ``impl.py`` imports, under hookrunner's own name.

The same objects as the ``sym`` tree's ``sym.sdk`` (``hookrunner/flows/sym``): in a hook
process the harness makes ``hookrunner.sdk`` that tree's namespace; in the daemon this
module re-exports it, so the daemon reads the handler names from the same place.
"""

from hookrunner.flows.sym._native import *  # noqa: F403
from hookrunner.flows.sym._native import __all__ as __all__
