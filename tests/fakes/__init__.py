"""Loopback fakes of the vendors auditbot talks to (Slack here; fixtures in plugin.py)."""
