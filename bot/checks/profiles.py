"""What the checks do for the replies of one channel: `[detectors]` with its channel's overrides.

Live channels (chat, messaging, social, IRC) have a 1-hour duplicate window unless configured:
there a conversation that resumes hours later is a new exchange (a notice the customer
triggered again), while a double send lands within seconds or minutes.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass

from bot.checks.findings import KINDS, subject
from bot.checks.placeholders import normalize
from bot.checks.words import words
from bot.core.config import DetectorsConfig
from bot.core.detectors import ChannelDetectors, mute_parts

LIVE_CHANNELS = words(
    "chat live_chat livechat messaging messenger sms whatsapp telegram irc slack discord teams twitter x "
    "instagram facebook social in_app in-app widget"
)
LIVE_WINDOW = dt.timedelta(hours=1)


@dataclass(frozen=True)
class Profile:
    """The checks' settings for one channel (or for every channel not configured apart)."""

    enabled: frozenset[str]  # kinds that run, rules as "rule:<name>"
    mutes: tuple[tuple[str, re.Pattern[str]], ...]  # (kind, pattern on what it found)
    allow: frozenset[str]  # placeholder_allow, normalized
    case_sensitive: bool
    stale_days: int
    window: dt.timedelta

    def allows(self, kind: str, evidence: Mapping, text: str = "") -> bool:
        """The kind runs here, and no mute pattern of it matches what this finding found."""
        if kind not in self.enabled:
            return False
        if not self.mutes:
            return True
        found = subject(kind, evidence) or text
        return not any(k == kind and p.search(found) for k, p in self.mutes)


def build_profile(config: DetectorsConfig, channel: str | None) -> Profile:
    """The profile of `channel` (None: the default one)."""
    override = _override(config, channel) or ChannelDetectors()
    kinds = [*KINDS, *(f"rule:{r.name}" for r in config.rules)]
    switches = {**config.enabled, **override.enabled}
    mutes: list[tuple[str, re.Pattern[str]]] = []
    silenced: set[str] = set()
    for entry in [*config.mute, *override.mute]:
        kind, pattern = mute_parts(entry)
        if pattern:
            mutes.append((kind, re.compile(pattern, re.IGNORECASE)))
        else:
            silenced.add(kind)
    enabled = frozenset(k for k in kinds if switches.get(k, True) and k not in silenced)
    window = dt.timedelta(hours=config.duplicate_window_hours)
    if override.duplicate_window_hours is not None:
        window = dt.timedelta(hours=override.duplicate_window_hours)
    elif channel is not None and channel.casefold() in LIVE_CHANNELS:
        window = min(window, LIVE_WINDOW)
    case_sensitive = config.plans_case_sensitive
    if override.plans_case_sensitive is not None:
        case_sensitive = override.plans_case_sensitive
    return Profile(
        enabled=enabled,
        mutes=tuple(mutes),
        allow=frozenset(normalize(t) for t in [*config.placeholder_allow, *override.placeholder_allow]),
        case_sensitive=case_sensitive,
        stale_days=override.stale_kb_days or config.stale_kb_days,
        window=window,
    )


def _override(config: DetectorsConfig, channel: str | None) -> ChannelDetectors | None:
    if channel is None:
        return None
    wanted = channel.casefold()
    return next((o for name, o in config.channels.items() if name.casefold() == wanted), None)


def configured(config: DetectorsConfig, channel: str | None) -> bool:
    """The channel has its own `[detectors.channels.<name>]` section."""
    return _override(config, channel) is not None
