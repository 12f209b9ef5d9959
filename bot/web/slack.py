"""POST /slack/events: Slack's signature checked on a bounded body before Bolt sees the request.

Bolt's own adapter reads the whole body and parses it before its signature check, so an unsigned
sender could make the process hold any amount and a non-JSON body ended in a 500 with a traceback.
Here the headers are checked first (401), the body is read within MAX_BODY (413) and verified with
Slack's signing secret (401), and a signed body Bolt cannot parse is a 400; only then does Bolt
dispatch it (and verify it again: its check stays on).
"""

from __future__ import annotations

import hashlib
import hmac

from slack_bolt.adapter.starlette.async_handler import to_starlette_response
from slack_bolt.async_app import AsyncApp, AsyncBoltRequest
from slack_sdk.signature import SignatureVerifier
from starlette.requests import Request
from starlette.responses import Response

from bot.web.bounded import Refused, check_declared, read_signed, require_headers

# Events, interactions and commands are a few KB; a modal's payload carries its view, and ours
# (at most 100 blocks of at most 3000 characters) stay well under this.
MAX_BODY = 1024 * 1024
TIMESTAMP_HEADER = "X-Slack-Request-Timestamp"
SIGNATURE_HEADER = "X-Slack-Signature"


class SlackEndpoint:
    """The /slack/events handler: signature first, bounded body, then Bolt."""

    def __init__(self, app: AsyncApp, signing_secret: str) -> None:
        self.app = app
        self.secret = signing_secret.encode()
        self.clock = SignatureVerifier(signing_secret).clock  # the clock of Bolt's own check

    async def handle(self, request: Request) -> Response:
        try:
            bolt_request = await self._signed(request)
        except Refused as refused:
            return refused.response(request)
        return to_starlette_response(await self.app.async_dispatch(bolt_request))

    async def _signed(self, request: Request) -> AsyncBoltRequest:
        check_declared(request, MAX_BODY)
        timestamp, signature = require_headers(request, (TIMESTAMP_HEADER, SIGNATURE_HEADER))
        if not _fresh(timestamp, int(self.clock.now())):
            raise Refused(401, "stale or malformed timestamp")
        body = await read_signed(request, MAX_BODY, lambda b: self._signed_by_slack(b, timestamp, signature))
        try:
            parsed = AsyncBoltRequest(
                body=body.decode("utf-8"), query=request.query_params, headers=request.headers
            )  # type: ignore[arg-type]
        except (ValueError, TypeError, AttributeError, KeyError, IndexError):  # bad UTF-8 or JSON, odd shapes
            raise Refused(400, "body is not a Slack request payload") from None
        if not isinstance(parsed.body, dict):
            raise Refused(400, "body is not a Slack request payload")
        return parsed

    def _signed_by_slack(self, body: bytes, timestamp: str, signature: str) -> bool:
        """`v0=` HMAC-SHA256 of `v0:{timestamp}:{body}`, on the bytes (Bolt's check decodes them first)."""
        base = b"v0:" + timestamp.encode() + b":" + body
        expected = "v0=" + hmac.new(self.secret, base, hashlib.sha256).hexdigest()
        return hmac.compare_digest(expected.encode(), signature.encode())


def _fresh(timestamp: str, now: int) -> bool:
    """Within Slack's five minutes (SignatureVerifier checks it again with the body)."""
    return timestamp.isdigit() and len(timestamp) < 12 and abs(now - int(timestamp)) <= 60 * 5
