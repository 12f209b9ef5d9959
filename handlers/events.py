"""Events API listeners."""

from __future__ import annotations

from slack_bolt.async_app import AsyncApp


def register(app: AsyncApp) -> None:
    # url_verification is answered by Bolt itself once the signature checks out.
    pass
