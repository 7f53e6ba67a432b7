"""Development tools shared by the tests, ``make run`` and the bench; never shipped.

The wheel packages ``hookrunner`` only. (Not named ``devtools``: that name is taken on
PyPI, and an installed package of that name would shadow this one.)
"""
