"""`auditbot deliver [--dead]`: deliver due outbox effects now."""

from __future__ import annotations

import argparse

from bot.cli.env import CliEnv


async def command_deliver(args: argparse.Namespace, env: CliEnv) -> int:
    """`auditbot deliver [--dead]`: flush due effects now; exit 1 if any ended dead."""
    from bot.defects.effects import deliver_pending

    services = await env.services(slack=True)
    report = await deliver_pending(services, include_dead=args.dead, limit=1000)
    print(
        f"delivered {report.delivered}, retrying later {report.retried}, dead {report.dead}"
        + (f", revived {report.revived}" if args.dead else "")
    )
    if report.dead:
        print("dead letters: `auditbot deliver --dead` retries them once fixed")
    return 1 if report.dead else 0
