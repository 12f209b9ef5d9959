"""Check a request we send against the vendor's OpenAPI file in ../shared/specs.

`validate_request` finds the operation by method and path, then checks path and query
parameters (coerced from their string form to the schema's type), header parameters when
given, and the JSON body against the operation's requestBody schema, with local `$ref`s
resolved. It raises AssertionError naming the operation and what is wrong.
"""

from __future__ import annotations

import copy
import json
import os
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import yaml
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT7

# tests/integrations/specs.py -> parents[3] is the folder that holds the repo and shared/
SHARED = Path(os.environ.get("AUDITBOT_SHARED") or Path(__file__).resolve().parents[3] / "shared")
SPECS = SHARED / "specs"
_BASE = "urn:auditbot:spec"
_METHODS = {"get", "put", "post", "delete", "patch", "head", "options"}


def validate_request(
    spec_path: str | Path,
    method: str,
    url_path: str,
    query: Mapping[str, Any],
    body: Any | None,
    *,
    headers: Mapping[str, str] | None = None,
    extra_query: Collection[str] = (),
    body_schema: Mapping[str, Any] | None = None,
) -> str:
    """Validate one request; return the operationId. `extra_query` names live-only params.

    `body_schema` stands in for a body the spec does not model (it may `$ref` the spec).
    """
    spec = _load(str(spec_path))
    template, operation = _find_operation(spec, method.lower(), url_path)
    label = f"{method.upper()} {url_path} ({operation.get('operationId', template)})"
    params = _parameters(spec, template, method.lower())
    problems: list[str] = []
    problems += _check_path(spec, params, template, url_path)
    problems += _check_query(spec, params, query, set(extra_query))
    if headers is not None:
        problems += _check_headers(spec, params, headers)
    problems += _check_body(spec, operation, body, body_schema)
    if problems:
        raise AssertionError(f"{label} does not match {Path(spec_path).name}:\n  " + "\n  ".join(problems))
    return operation.get("operationId", template)


def validate_httpx_request(
    spec_path: str | Path, request: httpx.Request, *, strip_prefix: str = "", **kwargs: Any
) -> str:
    """`validate_request` for an httpx.Request (what a MockTransport or respx route receives)."""
    query: dict[str, Any] = {}
    for key, value in request.url.params.multi_items():
        query.setdefault(key, []).append(value)
    flat = {k: v[0] if len(v) == 1 else v for k, v in query.items()}
    body = json.loads(request.content) if request.content else None
    path = request.url.path.removeprefix(strip_prefix) or "/"
    kwargs.setdefault("headers", dict(request.headers))
    return validate_request(spec_path, request.method, path, flat, body, **kwargs)


def validate_response(spec_path: str | Path, method: str, url_path: str, status: int, body: Any) -> None:
    """Check a fake's answer against the operation's response schema, so fakes stay realistic."""
    spec = _load(str(spec_path))
    template, operation = _find_operation(spec, method.lower(), url_path)
    responses = operation.get("responses", {})
    response = _resolve(spec, responses.get(str(status)) or responses.get("default") or {})
    content = response.get("content", {})
    media = next((m for m in content if "json" in m), None)
    if media is None:
        if status < 400 and not responses.get(str(status)):
            raise AssertionError(f"{method.upper()} {url_path}: the spec has no {status} answer")
        return
    problems = _validate(spec, body, content[media].get("schema", {}), "response")
    if problems:
        label = f"{method.upper()} {url_path} ({operation.get('operationId', template)}) {status}"
        raise AssertionError(f"{label} answer does not match the spec:\n  " + "\n  ".join(problems))


@dataclass(frozen=True)
class _Spec:
    doc: dict[str, Any]
    registry: Registry


@lru_cache(maxsize=16)
def _load(spec_path: str) -> _Spec:
    path = Path(spec_path)
    if not path.is_absolute():
        path = SPECS / path
    if not path.exists():
        raise AssertionError(f"spec {path} not found: set AUDITBOT_SHARED to the shared folder")
    text = path.read_text(encoding="utf-8")
    raw = yaml.load(text, Loader=yaml.CSafeLoader) if path.suffix in (".yaml", ".yml") else json.loads(text)
    doc = _openapi_to_jsonschema(raw)
    resource = Resource(contents=doc, specification=DRAFT7)
    return _Spec(doc, Registry().with_resource(_BASE, resource))


def _openapi_to_jsonschema(node: Any) -> Any:
    """OpenAPI 3.0 `nullable: true` means null is allowed; JSON Schema spells it differently."""
    if isinstance(node, list):
        return [_openapi_to_jsonschema(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {key: _openapi_to_jsonschema(value) for key, value in node.items()}
    if out.get("nullable") is True:
        del out["nullable"]
        if isinstance(out.get("type"), str) and not any(k in out for k in ("$ref", "oneOf", "anyOf")):
            out["type"] = [out["type"], "null"]
            if "enum" in out and None not in out["enum"]:
                out["enum"] = [*out["enum"], None]
        else:
            out = {"anyOf": [out, {"type": "null"}]}
    return out


def _find_operation(spec: _Spec, method: str, url_path: str) -> tuple[str, dict]:
    matches = []
    for template, item in spec.doc.get("paths", {}).items():
        pattern = re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(template))
        if re.fullmatch(pattern, url_path):
            literal = len(re.sub(r"\{[^/]+?\}", "", template))
            matches.append((literal, template, item))
    if not matches:
        raise AssertionError(f"{method.upper()} {url_path}: no path in the spec matches")
    _, template, item = max(matches, key=lambda m: m[0])  # literal segments beat templates
    if method not in item:
        allowed = sorted(m.upper() for m in item if m in _METHODS)
        raise AssertionError(f"{method.upper()} {url_path}: {template} only allows {allowed}")
    return template, item[method]


def _resolve(spec: _Spec, node: dict) -> dict:
    while "$ref" in node:
        ref = node["$ref"]
        if not ref.startswith("#/"):
            raise AssertionError(f"only local $refs are supported, not {ref}")
        node = spec.doc
        for part in ref[2:].split("/"):
            node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


def _parameters(spec: _Spec, template: str, method: str) -> list[dict]:
    merged: dict[tuple[str, str], dict] = {}
    item = spec.doc["paths"][template]
    for raw in [*item.get("parameters", []), *item[method].get("parameters", [])]:
        param = _resolve(spec, raw)
        merged[(param["name"], param["in"])] = param
    return list(merged.values())


def _validate(spec: _Spec, value: Any, schema: Any, where: str) -> list[str]:
    validator = jsonschema.Draft7Validator(
        _absolute(schema),
        registry=spec.registry,
        format_checker=jsonschema.Draft7Validator.FORMAT_CHECKER,
    )
    errors = sorted(validator.iter_errors(value), key=lambda e: (len(e.path), str(e.path)))
    return [_describe(where, e) for e in errors[:8]]


def _describe(where: str, error: jsonschema.ValidationError) -> str:
    text = f"{where}{_path(error)}: {error.message}"
    if error.context:  # oneOf/anyOf: the branch with the fewest errors is the one meant
        branches: dict[Any, list[jsonschema.ValidationError]] = {}
        for sub in error.context:
            branches.setdefault(sub.relative_schema_path[0], []).extend(_leaves(sub))
        closest = min(branches.values(), key=len)[:3]
        text += " (closest branch: " + "; ".join(f"{_path(e)}: {e.message}" for e in closest) + ")"
    return text


def _leaves(error: jsonschema.ValidationError) -> list[jsonschema.ValidationError]:
    if not error.context:
        return [error]
    return [leaf for sub in error.context for leaf in _leaves(sub)]


def _absolute(node: Any) -> Any:
    """Point local `$ref`s at the registered spec, so a schema taken out of it still resolves."""
    if isinstance(node, list):
        return [_absolute(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {key: _absolute(value) for key, value in node.items()}
    if isinstance(out.get("$ref"), str) and out["$ref"].startswith("#"):
        out["$ref"] = _BASE + out["$ref"]
    return out


def _path(error: jsonschema.ValidationError) -> str:
    return "".join(f"[{p!r}]" for p in error.absolute_path)


def _coerce(spec: _Spec, raw: Any, schema: dict) -> Any:
    """Query and path values arrive as strings; turn them into what the schema types."""
    schema = _resolve(spec, schema)
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), None)
    if kind == "array":
        items = raw if isinstance(raw, list) else str(raw).split(",")
        return [_coerce(spec, item, schema.get("items", {})) for item in items]
    if isinstance(raw, list):
        return [_coerce(spec, item, schema) for item in raw]  # repeated scalar: schema rejects
    text = str(raw)
    try:
        if kind == "integer":
            return int(text)
        if kind == "number":
            return float(text)
    except ValueError:
        return text
    if kind == "boolean" and text in ("true", "false"):
        return text == "true"
    return text


def _check_path(spec: _Spec, params: list[dict], template: str, url_path: str) -> list[str]:
    names = re.findall(r"\{([^/]+?)\}", template)
    pattern = re.sub(r"\\\{[^/]+?\\\}", "([^/]+)", re.escape(template))
    values = dict(zip(names, re.fullmatch(pattern, url_path).groups(), strict=True))
    problems = []
    by_name = {p["name"]: p for p in params if p["in"] == "path"}
    for name, raw in values.items():
        param = by_name.get(name)
        if param is None:
            problems.append(f"path param {name!r} is not declared")
            continue
        schema = param.get("schema", {})
        problems += _validate(spec, _coerce(spec, raw, schema), schema, f"path param {name!r}")
    return problems


def _check_query(spec: _Spec, params: list[dict], query: Mapping[str, Any], extra: set[str]) -> list[str]:
    problems: list[str] = []
    seen: set[str] = set()
    for param in (p for p in params if p["in"] == "query"):
        name, schema = param["name"], param.get("schema", {})
        if param.get("style") == "deepObject":
            keys = {k: v for k, v in query.items() if k.startswith(f"{name}[") and k.endswith("]")}
            seen |= set(keys)
            if not keys:
                value = None
            else:
                props = _resolve(spec, schema).get("properties", {})
                value = {
                    k[len(name) + 1 : -1]: _coerce(spec, v, props.get(k[len(name) + 1 : -1], {}))
                    for k, v in keys.items()
                }
        else:
            seen.add(name)
            value = _coerce(spec, query[name], schema) if name in query else None
        if value is None:
            if param.get("required"):
                problems.append(f"query param {name!r} is required")
            continue
        problems += _validate(spec, value, schema, f"query param {name!r}")
    unknown = sorted(set(query) - seen - extra)
    if unknown:
        problems.append(f"query params {unknown} are not in the spec (pass extra_query if live-only)")
    return problems


def _check_headers(spec: _Spec, params: list[dict], headers: Mapping[str, str]) -> list[str]:
    lowered = {k.lower(): v for k, v in headers.items()}
    problems: list[str] = []
    for param in (p for p in params if p["in"] == "header"):
        name, schema = param["name"], param.get("schema", {})
        if name.lower() not in lowered:
            if param.get("required"):
                problems.append(f"header {name!r} is required")
            continue
        value = _coerce(spec, lowered[name.lower()], schema)
        problems += _validate(spec, value, schema, f"header {name!r}")
    return problems


def _check_body(spec: _Spec, operation: dict, body: Any, body_schema: Mapping | None) -> list[str]:
    if body_schema is not None:
        return _validate(spec, body, dict(body_schema), "body") if body is not None else []
    request_body = _resolve(spec, operation.get("requestBody", {}))
    if not request_body:
        return [] if body is None else ["the operation takes no body (pass body_schema if live-only)"]
    if body is None:
        return ["a request body is required"] if request_body.get("required") else []
    content = request_body.get("content", {})
    media = next((m for m in content if "json" in m), None)
    if media is None:
        return [f"body is JSON but the operation accepts {sorted(content)}"]
    return _validate(spec, body, content[media].get("schema", {}), "body")


def spec_copy(spec_path: str | Path) -> dict[str, Any]:
    """A private copy of a loaded spec (for tests that read its examples)."""
    return copy.deepcopy(_load(str(spec_path)).doc)
