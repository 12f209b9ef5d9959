"""auditbot: the audit layer for AI customer support."""

__version__ = "0.1.0"
