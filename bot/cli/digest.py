"""`auditbot digest [--week 2026-W48] [--dry-run]`: post the weekly digest, or preview it offline."""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import urllib.parse

from bot.cli.env import CliEnv, UsageError
from bot.core import weeks
from bot.digest.post import compose, digest_channel, post_weekly_digest

BUILDER_URL = "https://app.slack.com/block-kit-builder/#"


def builder_link(blocks: list[dict]) -> str:
    """A Block Kit Builder link that opens these blocks (the payload travels in the URL fragment)."""
    return BUILDER_URL + urllib.parse.quote(json.dumps({"blocks": blocks}, separators=(",", ":")), safe="")


def choose_week(args: argparse.Namespace, env: CliEnv) -> str:
    tz = env.config.slack.tz
    if args.week is None:
        return weeks.last_complete(env.clock.now(), tz)
    try:
        weeks.parse_week(args.week)
    except ValueError as exc:
        raise UsageError(f"--week: {exc}") from exc
    _, end = weeks.bounds(args.week, tz)
    if not args.dry_run and end > env.clock.now():
        raise UsageError(f"--week {args.week} is not over yet; preview it with --dry-run")
    return str(args.week)


async def command_digest(args: argparse.Namespace, env: CliEnv) -> int:
    week = choose_week(args, env)
    if args.dry_run:
        return await _dry_run(week, env)
    services = await env.services(slack=True)
    post = await post_weekly_digest(services, week)
    channel = digest_channel(env.config)
    if post is None:
        print(f"digest for {week} already posted to {channel}: nothing to do", file=sys.stderr)
    else:
        print(f"digest for {week} posted to {channel} (ts {post.message_ts})", file=sys.stderr)
    return 0


async def _dry_run(week: str, env: CliEnv) -> int:
    services = await env.services(slack=False)
    digest = await compose(services.db, services.config, week, services.clock.now())
    blocks = digest.blocks_json()
    channel = services.config.slack.digest_channel or "(digest channel not set)"
    print(
        json.dumps({"channel": channel, "text": digest.text, "blocks": blocks}, indent=2, ensure_ascii=False)
    )
    fd, path = tempfile.mkstemp(prefix=f"auditbot-digest-{week}-", suffix=".png")
    with os.fdopen(fd, "wb") as out:
        out.write(digest.chart())
    print(f"Block Kit Builder: {builder_link(blocks)}", file=sys.stderr)
    print(f"chart: {path}", file=sys.stderr)
    return 0
