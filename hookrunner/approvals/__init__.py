"""Slack approvals (DESIGN §12): announcing requests, and deciding them from Slack."""
