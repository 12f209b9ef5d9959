"""Check a GraphQL request against Linear's published SDL: the document and its variables."""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Any

from graphql import (
    GraphQLSchema,
    OperationDefinitionNode,
    build_schema,
    parse,
    validate,
)
from graphql.execution.values import get_variable_values

SHARED = Path(os.environ.get("AUDITBOT_SHARED", Path(__file__).resolve().parents[3] / "shared"))
LINEAR_SDL = SHARED / "specs" / "linear" / "schema.graphql"


@functools.cache
def linear_schema() -> GraphQLSchema:
    """Linear's schema, built once per test session (the SDL is 1.2 MB)."""
    return build_schema(LINEAR_SDL.read_text(), assume_valid=True)


def validate_graphql(query: str, variables: dict[str, Any] | None = None) -> None:
    """Raise AssertionError unless `query` validates and `variables` coerce to its input types.

    Variable coercion applies the schema's input types, so a missing required input field
    (e.g. `IssueCreateInput.teamId`), an unknown field or a wrong scalar type is rejected.
    """
    schema = linear_schema()
    document = parse(query)
    errors = validate(schema, document)
    assert not errors, f"GraphQL document invalid against Linear's schema: {errors}"
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    assert len(operations) == 1, "send exactly one operation per request"
    coerced = get_variable_values(schema, operations[0].variable_definitions or (), variables or {})
    assert not isinstance(coerced, list), f"GraphQL variables invalid: {coerced}"
