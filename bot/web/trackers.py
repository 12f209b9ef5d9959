"""`POST /webhooks/{jira,linear,github}`: tracker status changes, each checked with its vendor's signature."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bot.core.services import Services
from bot.defects.effects import deliver_pending
from bot.defects.status_sync import receive_webhook
from bot.web.bounded import Refused, check_declared, read_signed, require_headers
from integrations import github, jira, linear
from integrations.base import IssueState

SIGNATURE_HEADERS = {"jira": "X-Hub-Signature", "linear": "Linear-Signature", "github": "X-Hub-Signature-256"}
MAX_BODY = 5 * 1024 * 1024  # an issue event with a long description and comments stays far below


def routes(services: Services) -> list[Route]:
    """`POST /webhooks/{jira,linear,github}`, each checked with its vendor's signature."""
    vendors = {"jira": jira, "linear": linear, "github": github}

    async def receive(request: Request) -> Response:
        name = request.path_params["vendor"]
        module = vendors.get(name)
        if module is None:
            return JSONResponse({"ok": False, "error": "unknown tracker"}, status_code=404)
        secret = getattr(services.settings, f"{name}_webhook_secret", None)
        try:
            if not secret:  # nothing can be verified, so nothing is accepted
                raise Refused(401, f"{name.upper()}_WEBHOOK_SECRET is not set")
            check_declared(request, MAX_BODY)
            [signature] = require_headers(request, [SIGNATURE_HEADERS[name]])
            body = await read_signed(
                request, MAX_BODY, lambda b: module.verify_signature(secret, b, signature)
            )
            payload, parsed = _parse(module, body)
            delivery = module.webhook_delivery(request.headers, payload)
        except Refused as refused:
            return refused.response(request)
        outcome = await receive_webhook(services, name, delivery, body, parsed)
        task = BackgroundTask(deliver_pending, services) if outcome.change else None
        return JSONResponse(outcome.answer, status_code=outcome.status, background=task)

    return [Route("/webhooks/{vendor}", receive, methods=["POST"])]


def _parse(module: Any, body: bytes) -> tuple[dict[str, Any], tuple[str, IssueState] | None]:
    """The payload and its (issue, state), None for one we do not follow; 400 for a malformed one."""
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise Refused(400, "body is not JSON") from None
    if not isinstance(payload, dict):
        raise Refused(400, "body is not a JSON object")
    try:
        return payload, module.parse_webhook(payload)
    except (AttributeError, KeyError, TypeError, ValueError):  # a field of an unexpected shape
        raise Refused(400, "not a webhook delivery this endpoint understands") from None
