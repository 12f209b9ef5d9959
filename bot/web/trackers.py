"""`POST /webhooks/{jira,linear,github}`: tracker status changes, each checked with its vendor's signature."""

from __future__ import annotations

import json

from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bot.core.services import Services
from bot.defects.effects import deliver_pending
from bot.defects.status_sync import receive_webhook
from integrations import github, jira, linear

SIGNATURE_HEADERS = {"jira": "X-Hub-Signature", "linear": "Linear-Signature", "github": "X-Hub-Signature-256"}


def routes(services: Services) -> list[Route]:
    """`POST /webhooks/{jira,linear,github}`, each checked with its vendor's signature."""
    vendors = {"jira": jira, "linear": linear, "github": github}

    async def receive(request: Request) -> Response:
        name = request.path_params["vendor"]
        module = vendors.get(name)
        if module is None:
            return JSONResponse({"ok": False, "error": "unknown tracker"}, status_code=404)
        secret = getattr(services.settings, f"{name}_webhook_secret", None)
        body = await request.body()
        if not secret or not module.verify_signature(
            secret, body, request.headers.get(SIGNATURE_HEADERS[name])
        ):
            # Without a configured secret nothing can be verified, so nothing is accepted.
            return JSONResponse({"ok": False, "error": "bad or missing signature"}, status_code=401)
        try:
            payload = json.loads(body)
        except ValueError:
            return JSONResponse({"ok": False, "error": "body is not JSON"}, status_code=400)
        payload = payload if isinstance(payload, dict) else {}
        delivery = module.webhook_delivery(request.headers, payload)
        outcome = await receive_webhook(services, name, delivery, body, module.parse_webhook(payload))
        task = BackgroundTask(deliver_pending, services) if outcome.change else None
        return JSONResponse(outcome.answer, status_code=outcome.status, background=task)

    return [Route("/webhooks/{vendor}", receive, methods=["POST"])]
