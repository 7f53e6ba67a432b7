"""Approval flows: the flow definitions, the harness protocol, the engine and its timers."""
