"""The ASGI app: Slack's endpoint, /ingest, vendor webhooks and /healthz on one Starlette app."""

from __future__ import annotations

from slack_bolt.adapter.starlette.async_handler import AsyncSlackRequestHandler
from slack_bolt.async_app import AsyncApp
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bot.app import services_of


def build_web(app: AsyncApp) -> Starlette:
    """Routes for the HTTP deployment (and /ingest + /healthz under Socket Mode too)."""
    slack = AsyncSlackRequestHandler(app)
    services = services_of(app)

    async def slack_events(request: Request) -> Response:
        return await slack.handle(request)

    async def healthz(_: Request) -> Response:
        if await services.db.ping():
            return JSONResponse({"ok": True, "database": "reachable"})
        return JSONResponse({"ok": False, "database": "unreachable"}, status_code=503)

    routes = [
        Route("/slack/events", slack_events, methods=["POST"]),
        Route("/healthz", healthz, methods=["GET"]),
        *extra_routes(services),
    ]
    web = Starlette(routes=routes)
    web.state.services = services
    return web


def extra_routes(services) -> list[Route]:  # type: ignore[no-untyped-def]
    """/ingest and /webhooks/*, each owned by the module that serves it."""
    from bot.status_sync import webhook_routes
    from integrations import webhook

    routes: list[Route] = [*webhook.routes(services), *webhook_routes(services)]
    return routes
