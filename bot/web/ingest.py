"""POST /ingest: signed reply records pushed by the team's AI pipeline (contract in DESIGN.md).

Signature: `X-Auditbot-Signature: sha256=HEX`, the HMAC-SHA256 of `"{timestamp}.{body}"` keyed
with INGEST_SECRET, where `X-Auditbot-Timestamp` is Unix seconds within 5 minutes of now.
Answers: 202 all stored; 400 some or all items invalid (the valid ones are stored anyway and
counted, the first MAX_ERRORS invalid ones listed by index, the rest counted); 400 a body that is
not JSON; 401 bad, stale or missing signature (nothing read past the headers, nothing written);
413 body over MAX_BODY or more than MAX_ITEMS records; 503 INGEST_SECRET not configured.
Parsing, validation and the checks run in a worker thread, so a large or slow batch never holds
the event loop (Slack's acks and /healthz go on meanwhile).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import hmac
from dataclasses import dataclass
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bot.ingest.rows import Prepared, Preparer
from bot.ingest.store import Checks, IngestResult, store_prepared
from bot.web.bounded import Refused, check_declared, read_signed, require_headers
from integrations.record import RecordError, parse_record

MAX_BODY = 5 * 1024 * 1024
MAX_ITEMS = 10_000  # records in one request
MAX_ERRORS = 100  # invalid items listed in an answer; the rest are counted
MAX_SKEW_SECONDS = 300
DEFAULT_SOURCE = "webhook"
TIMESTAMP_HEADER = "X-Auditbot-Timestamp"
SIGNATURE_HEADER = "X-Auditbot-Signature"


def sign(body: bytes, secret: str, timestamp: int | str) -> str:
    """The signature header value for `body` sent at `timestamp`."""
    base = str(timestamp).encode() + b"." + body
    return "sha256=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()


def routes(services: Any) -> list[Route]:
    """The /ingest route, bound to the app's services."""

    async def handle_ingest(request: Request) -> Response:
        return await receive(request, services)

    return [Route("/ingest", handle_ingest, methods=["POST"])]


@dataclass
class Parsed:
    """A request's items checked and prepared as rows (in a worker thread)."""

    received: int
    prepared: Prepared
    errors: list[dict[str, Any]]


async def receive(request: Request, services: Any) -> Response:
    """Check the signature, validate every item, store the good ones, answer with counts."""
    secret = services.settings.ingest_secret
    if not secret:
        return Refused(503, "ingest is disabled: INGEST_SECRET is not set").response(request)
    now = services.clock.now()
    checks = Checks.from_config(services.config.detectors)
    sqlite = services.db.engine.dialect.name == "sqlite"
    try:
        check_declared(request, MAX_BODY)
        timestamp, signature = require_headers(request, (TIMESTAMP_HEADER, SIGNATURE_HEADER))
        if not _fresh(timestamp, now.timestamp()):
            raise Refused(401, "stale or malformed timestamp")
        expected = signature.encode()
        body = await read_signed(
            request, MAX_BODY, lambda b: hmac.compare_digest(sign(b, secret, timestamp).encode(), expected)
        )
        parsed = await asyncio.to_thread(_parse, body, checks, sqlite, now)
    except Refused as refused:
        return refused.response(request)
    result = IngestResult()
    if parsed.prepared.rows:
        async with services.db.transaction() as session:
            result = await store_prepared(session, parsed.prepared, checks=checks, now=now)
    counts = {
        "received": parsed.received,
        "imported": result.imported,
        "already_present": result.already_present,
        "rejected": len(parsed.errors),
    }
    if not parsed.errors:
        return JSONResponse(counts, status_code=202)
    listed = parsed.errors[:MAX_ERRORS]
    more = {"errors_not_listed": len(parsed.errors) - len(listed)} if len(parsed.errors) > len(listed) else {}
    return JSONResponse({**counts, "errors": listed, **more}, status_code=400)


def _parse(body: bytes, checks: Checks, sqlite: bool, now: dt.datetime) -> Parsed:
    """The body's records validated one by one, the good ones as rows with their findings."""
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise Refused(400, f"bad JSON ({exc})") from None
    items = payload if isinstance(payload, list) else [payload]
    if len(items) > MAX_ITEMS:
        raise Refused(413, f"{len(items)} records in one request (at most {MAX_ITEMS}): send them in parts")
    records, errors = [], []
    for index, item in enumerate(items):
        try:
            records.append(parse_record(item, default_source=DEFAULT_SOURCE))
        except RecordError as exc:
            errors.append({"index": index, "error": str(exc)})
    prepared = Preparer(checks.detector, default_source=DEFAULT_SOURCE, as_text=sqlite).records(records, now)
    return Parsed(len(items), prepared, errors)


def _fresh(timestamp: str, now: float) -> bool:
    try:
        sent = int(timestamp)
    except ValueError:
        return False
    return abs(now - sent) <= MAX_SKEW_SECONDS
