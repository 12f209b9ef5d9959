"""POST /ingest: signed reply records pushed by the team's AI pipeline (contract in DESIGN.md).

Signature: `X-Auditbot-Signature: sha256=HEX`, the HMAC-SHA256 of `"{timestamp}.{body}"` keyed
with INGEST_SECRET, where `X-Auditbot-Timestamp` is Unix seconds within 5 minutes of now.
Answers: 202 all stored; 400 some or all items invalid (the valid ones are stored anyway and
counted, the invalid ones listed by index); 401 bad, stale or missing signature (nothing
written); 413 body over MAX_BODY; 503 INGEST_SECRET not configured (unsigned input is refused).
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bot.ingest.store import Checks, IngestResult, ingest
from integrations.record import RecordError, parse_record

MAX_BODY = 5 * 1024 * 1024
MAX_SKEW_SECONDS = 300
DEFAULT_SOURCE = "webhook"
TIMESTAMP_HEADER = "X-Auditbot-Timestamp"
SIGNATURE_HEADER = "X-Auditbot-Signature"


class TooLarge(Exception):
    pass


def sign(body: bytes, secret: str, timestamp: int | str) -> str:
    """The signature header value for `body` sent at `timestamp`."""
    base = str(timestamp).encode() + b"." + body
    return "sha256=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()


def routes(services: Any) -> list[Route]:
    """The /ingest route, bound to the app's services."""

    async def handle_ingest(request: Request) -> Response:
        return await receive(request, services)

    return [Route("/ingest", handle_ingest, methods=["POST"])]


async def receive(request: Request, services: Any) -> Response:
    """Check the signature, validate every item, store the good ones, answer with counts."""
    secret = services.settings.ingest_secret
    if not secret:
        return _error(503, "ingest is disabled: INGEST_SECRET is not set")
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY:
        return _error(413, f"body over {MAX_BODY} bytes")
    timestamp = request.headers.get(TIMESTAMP_HEADER, "")
    signature = request.headers.get(SIGNATURE_HEADER, "")
    if not timestamp or not signature:
        return _error(401, f"missing {TIMESTAMP_HEADER} or {SIGNATURE_HEADER}")
    if not _fresh(timestamp, services.clock.now().timestamp()):
        return _error(401, "stale or malformed timestamp")
    try:
        body = await _read(request)
    except TooLarge:
        return _error(413, f"body over {MAX_BODY} bytes")
    if not hmac.compare_digest(sign(body, secret, timestamp).encode(), signature.strip().encode()):
        return _error(401, "bad signature")
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        return _error(400, f"bad JSON ({exc})")
    items = payload if isinstance(payload, list) else [payload]
    records, errors = [], []
    for index, item in enumerate(items):
        try:
            records.append(parse_record(item, default_source=DEFAULT_SOURCE))
        except RecordError as exc:
            errors.append({"index": index, "error": str(exc)})
    result = IngestResult()
    if records:
        checks = Checks.from_config(services.config.detectors)
        result = await ingest(services.db, records, checks=checks, now=services.clock.now())
    counts = {
        "received": len(items),
        "imported": result.imported,
        "already_present": result.already_present,
        "rejected": len(errors),
    }
    if errors:
        return JSONResponse({**counts, "errors": errors}, status_code=400)
    return JSONResponse(counts, status_code=202)


def _fresh(timestamp: str, now: float) -> bool:
    try:
        sent = int(timestamp)
    except ValueError:
        return False
    return abs(now - sent) <= MAX_SKEW_SECONDS


async def _read(request: Request) -> bytes:
    """The body, refusing to hold more than MAX_BODY whatever Content-Length said."""
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY:
            raise TooLarge
        chunks.append(chunk)
    return b"".join(chunks)


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)
