"""The ASGI app: Slack's endpoint, /ingest, vendor webhooks and /healthz on one Starlette app."""

from __future__ import annotations

from slack_bolt.async_app import AsyncApp
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bot.app import services_of
from bot.core.services import Services
from bot.web import ingest, trackers
from bot.web.slack import SlackEndpoint


def build_web(app: AsyncApp) -> Starlette:
    """Routes for the HTTP deployment (and /ingest + /healthz under Socket Mode too)."""
    services = services_of(app)
    slack_events = SlackEndpoint(app, services.settings.slack_signing_secret or "").handle

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


def extra_routes(services: Services) -> list[Route]:
    """/ingest and /webhooks/*, each served by its own module."""
    return [*ingest.routes(services), *trackers.routes(services)]
