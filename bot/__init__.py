"""auditbot: the audit layer for AI customer support.

Packages by capability, each importing only what lies below it (README → Architecture; the
contract is `[tool.importlinter]` in pyproject.toml):

    cli  →  server  →  web | scheduler  →  app  →  handlers/
      →  review | export  →  digest | defects  →  sample | ingest  →  checks
      →  views  →  delivery  →  integrations/  →  core
"""

__version__ = "0.1.0"
