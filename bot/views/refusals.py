"""What someone is told when auditbot refuses their click, modal or command (always only to them)."""

from __future__ import annotations

from collections.abc import Collection, Sequence

from bot.core.access import Role

_WHO = {Role.REVIEWER: "reviewers", Role.ADMIN: "admins", Role.OWNER: "the group's owner"}


def who_may(roles: Collection[Role]) -> str:
    """`reviewers, admins and the group's owner` (in the table's order)."""
    names = [name for role, name in _WHO.items() if role in roles]
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def refusal_text(doing: str, roles: Collection[Role], admins: Sequence[str]) -> str:
    """Why a user may not do this, and whom to ask."""
    ask = ", ".join(f"<@{a}>" for a in admins) if admins else "an admin"
    text = f"Only {who_may(roles)} can {doing}, and you are not one of them."
    if Role.REVIEWER in roles:
        return f"{text} If you should be, ask {ask} to add you to `[slack] reviewers` or the reviewer group."
    return f"{text} Admins are listed in `[slack] admins` in auditbot.toml."


def short_refusal(doing: str, roles: Collection[Role]) -> str:
    """The same in one short line, for an error shown inside a modal."""
    return f"Only {who_may(roles)} can {doing}."


def wrong_message_text() -> str:
    return (
        "This button does not belong to the message it was clicked on (an old or copied message), "
        "so nothing was changed. Use the buttons on the item's own message."
    )


def unknown_target_text(what: str) -> str:
    return f"That {what} no longer exists in auditbot's database, so nothing was changed."
