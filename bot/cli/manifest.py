"""The Slack app manifest: Socket Mode by default, HTTP request URLs with --http-url."""

from __future__ import annotations

import argparse
import copy
import json
from pathlib import Path
from typing import Any

from bot.core.settings import ConfigError

TEMPLATE = Path(__file__).parent.parent / "manifest.json"


def build_manifest(http_url: str | None = None) -> dict[str, Any]:
    manifest: dict[str, Any] = copy.deepcopy(json.loads(TEMPLATE.read_text(encoding="utf-8")))
    if http_url:
        if not http_url.startswith("https://"):
            raise ConfigError(f"--http-url must be an https:// URL (Slack requires it): {http_url}")
        endpoint = http_url.rstrip("/") + "/slack/events"
        settings = manifest["settings"]
        settings["socket_mode_enabled"] = False
        settings["event_subscriptions"]["request_url"] = endpoint
        settings["interactivity"]["request_url"] = endpoint
        for command in manifest["features"]["slash_commands"]:
            command["url"] = endpoint
    return manifest


async def command_manifest(args: argparse.Namespace, env: object) -> int:
    print(json.dumps(build_manifest(args.http_url), indent=2))
    return 0
