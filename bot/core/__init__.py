"""The bottom layer: settings and team config, database and tables, clock, the reply record,
ISO weeks, redaction of untrusted text, who may act, and the `Services` every caller shares.

Imports nothing of the project above it (only the standard library and third-party packages)."""
