"""Request bodies read within a limit, signature first: what every POST endpoint reads its body with.

Before a byte of the body is read, a declared body over the limit is refused (413) and a request
without its signature headers or with a stale timestamp is refused (401). The body is then read
chunk by chunk into a spooled temporary file, so an unsigned sender, however large or slow its
body, holds at most SPOOL_BYTES of the process's memory; past the limit it is refused (413). Only
once the whole body is in is the signature checked, and only a signed body is handed back to be
parsed. Every refusal is one log line (method, path, status, reason): never the body, never a
traceback.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Callable, Iterable

from starlette.requests import Request
from starlette.responses import JSONResponse

log = logging.getLogger("auditbot.web")

SPOOL_BYTES = 64 * 1024  # body bytes held in memory per request; the rest waits in a temporary file


class Refused(Exception):
    """A request answered without being served; `response()` is what the sender gets."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status, self.reason = status, reason

    def response(self, request: Request) -> JSONResponse:
        log.info("refused %s %s: %s %s", request.method, request.url.path, self.status, self.reason)
        return JSONResponse({"error": self.reason}, status_code=self.status)


def check_declared(request: Request, limit: int) -> None:
    """413 for a Content-Length over `limit`, 400 for one that is not a number: nothing read yet."""
    declared = request.headers.get("content-length")
    if declared is None:
        return  # a streamed (chunked) body: counted as it arrives
    if not declared.strip().isdigit():
        raise Refused(400, "bad Content-Length")
    if int(declared) > limit:
        raise Refused(413, f"body over {limit} bytes")


def require_headers(request: Request, names: Iterable[str]) -> list[str]:
    """The values of the signature headers, or 401 naming the first that is missing."""
    values = []
    for name in names:
        value = request.headers.get(name, "").strip()
        if not value:
            raise Refused(401, f"missing {name}")
        values.append(value)
    return values


async def read_signed(request: Request, limit: int, verify: Callable[[bytes], bool]) -> bytes:
    """The whole body once `verify(body)` accepts it; 413 past `limit`, 401 when it does not verify."""
    check_declared(request, limit)
    with tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES) as spool:
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise Refused(413, f"body over {limit} bytes")
            spool.write(chunk)
        spool.seek(0)
        body = spool.read()
    # No await from here to the check: of the bodies still unverified, one at a time is in memory.
    if not verify(body):
        raise Refused(401, "bad signature")
    return body
