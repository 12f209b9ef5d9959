"""`auditbot sample [--date D] [--dry-run] [--seed S]`: draw and post a day's sample, or preview it."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys

from bot.cli.env import CliEnv, UsageError
from bot.core.services import Services
from bot.sample.draw import (
    MAX_SEED,
    audit_channel,
    batch_items,
    batch_of,
    default_seed,
    get_batch,
    local_today,
    plan_draw,
)
from bot.sample.items import Slot, batch_views, header_view, slot_views
from bot.sample.posting import posting_elsewhere, run_daily_sample
from bot.views.sample import build_sample_header, build_sample_item, builder_link

DRY_RUN_CHANNEL = "C0PREVIEW"


async def command_sample(args: argparse.Namespace, env: CliEnv) -> int:
    seed = args.seed
    if seed is not None and not 0 <= seed <= MAX_SEED:
        raise UsageError(f"--seed: {seed} is out of range; use 0 to {MAX_SEED}")
    if args.dry_run and not env.config.slack.audit_channel:
        # A preview needs no Slack at all: stand in for the channel rather than refuse.
        slack = env.config.slack.model_copy(update={"audit_channel": DRY_RUN_CHANNEL})
        env._config = env.config.model_copy(update={"slack": slack})
        print(f"note: no audit channel configured; previewing as {DRY_RUN_CHANNEL}", file=sys.stderr)
    channel = audit_channel(env.config)
    day = args.date or local_today(env.config, env.clock.now())
    if args.dry_run:
        services = await env.services(slack=False)
        for title, blocks in await preview(services, day, seed):
            print_message(title, blocks)
        return 0
    services = await env.services(slack=True)
    batch = await run_daily_sample(services, day, seed=seed)
    if seed is not None and batch.seed != seed:
        print(f"note: the sample for {day} was drawn earlier with seed {batch.seed}; --seed {seed} ignored")
    async with services.db.session() as session:
        items = await batch_items(session, batch.id)  # type: ignore[arg-type]
    posted = sum(item.message_ts is not None for item in items)
    if posted < len(items) and await posting_elsewhere(services, batch.id):  # type: ignore[arg-type]
        print(f"sample {day} in {channel}: batch {batch.id} is being posted by another run")
        return 0
    print(
        f"sample {day} in {channel}: {len(items)} of {batch.population:,} replies "
        f"({batch.flagged_drawn} flagged), {posted} posted, batch {batch.id}, seed {batch.seed}"
    )
    return 0 if posted == len(items) else 1


async def preview(services: Services, day: dt.date, seed: int | None) -> list[tuple[str, list[dict]]]:
    """The messages the run for `day` posts: the stored batch if drawn, else a fresh draw (not stored)."""
    config = services.config
    channel = audit_channel(config)
    async with services.db.session() as session:
        batch = await get_batch(session, channel, day)
        if batch is not None:
            items = await batch_items(session, batch.id)  # type: ignore[arg-type]
            views = await batch_views(session, items, show_hint=config.judge.show_hint)
            doubles = sum(item.double_review for item in items)
            note = f"stored batch {batch.id}, seed {batch.seed}"
        else:
            seed = default_seed(channel, day) if seed is None else seed
            frame, draw = await plan_draw(session, config, day, seed)
            # item id 0: nothing is stored, so the buttons are inert in a preview
            slots = [Slot(p.reply_id, 0, n, p.double_review) for n, p in enumerate(draw.picks, 1)]
            views = await slot_views(session, slots, show_hint=config.judge.show_hint)
            doubles = sum(pick.double_review for pick in draw.picks)
            batch = batch_of(channel, day, frame, draw, seed=seed, created_at=frame.cutoff)
            note = f"dry run: not stored, seed {seed}"
    header = header_view(services, batch, len(views), doubles)
    messages = [(f"header ({note})", [b.to_dict() for b in build_sample_header(header)])]
    for view in views:
        messages.append(
            (f"item {view.position} of {view.total}", [b.to_dict() for b in build_sample_item(view)])
        )
    return messages


def print_message(title: str, blocks: list[dict]) -> None:
    print(f"# {title}")
    print(json.dumps({"blocks": blocks}, ensure_ascii=False, indent=2))
    print(f"Block Kit Builder: {builder_link(blocks)}")
    print()
