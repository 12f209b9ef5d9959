"""The `auditbot` command: one module per command group; each command is imported only when it runs.

A leaf: nothing imports it. May import anything below it."""
