"""`auditbot deliver [--retry-dead]`: deliver due outbox effects now (`--dead` is the old name)."""

from __future__ import annotations

import argparse

from bot.cli.env import CliEnv


async def command_deliver(args: argparse.Namespace, env: CliEnv) -> int:
    """`auditbot deliver [--retry-dead]`: flush due effects now; exit 1 if any ended dead."""
    from bot.defects.effects import deliver_pending

    services = await env.services(slack=True)
    report = await deliver_pending(services, include_dead=args.dead, limit=1000)
    print(
        f"delivered {report.delivered}, retrying later {report.retried}, dead {report.dead}"
        + (f", revived {report.revived}" if args.dead else "")
    )
    if report.dead:
        print("dead letters: `auditbot deliver --retry-dead` retries them once the cause is fixed")
    return 1 if report.dead else 0
