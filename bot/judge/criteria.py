"""What the judge is asked: built-in criteria mapped to the taxonomy, plus the team's own.

Every criterion has a version (a hash of its question and category) and the whole prompt has one
(a hash of the prompt's wording and every criterion): a judgment is stored per (reply, prompt
version, model), and agreement with reviewers is measured per (criterion version, model), so
rewording a question starts its record afresh instead of mixing two different questions.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

from bot.core.config import AuditConfig, JudgeConfig

# Bump when the wording of bot.judge.prompt changes: it is part of every prompt version.
PROMPT_TEMPLATE = "2026-12-judge-1"
VERDICTS = ("pass", "fail", "unsure")


@dataclass(frozen=True)
class Criterion:
    id: str
    question: str
    category: str | None  # compared with reviewers' defects of this category; None: not measured
    label: str  # short, for the card: "fails *invented policy*"
    needs_kb_text: bool = False  # asked only when a cited article's text is on the record

    @property
    def version(self) -> str:
        return _digest(f"{self.id}\n{self.question}\n{self.category or ''}")[:12]


BUILTIN: dict[str, Criterion] = {
    c.id: c
    for c in (
        Criterion(
            "answers_question",
            "Does the reply answer the question the customer actually asked (not a different or "
            "merely related question), or ask for what it needs to answer it?",
            "wrong_information",
            "answers the question",
        ),
        Criterion(
            "no_invention",
            "Does the reply avoid inventing a policy, price, date, deadline, refund, discount or "
            "promise that the conversation and the cited article do not support? Fail when it "
            "states or commits to one without support.",
            "policy_logic",
            "invented policy or promise",
        ),
        Criterion(
            "kb_consistent",
            "Is the reply consistent with the cited help-centre article text? Fail when it "
            "contradicts it or states as the article's something the article does not say.",
            "wrong_information",
            "contradicts the cited article",
            needs_kb_text=True,
        ),
        Criterion(
            "escalation",
            "If the customer's message calls for a person (a legal threat, a safety, security or "
            "privacy issue, a charge dispute or refund the AI cannot settle, an angry repeated "
            "complaint, or an explicit request for a human), does the reply hand over to a person "
            "or say one will follow up? Pass when nothing calls for it.",
            "policy_logic",
            "missed escalation",
        ),
        Criterion(
            "language",
            "Is the reply written in the customer's language (the language of their message, or "
            "the language named in the ticket facts)?",
            "personalization",
            "wrong language",
        ),
        Criterion(
            "tone",
            "Does the tone fit the customer's mood: calm and apologetic with an upset or angry "
            "customer, never cold, dismissive, sarcastic or blaming?",
            "tone",
            "tone",
        ),
    )
}


def criteria_for(config: AuditConfig) -> list[Criterion]:
    """The criteria in force: the enabled built-ins (as the team adjusted them), then the team's own.

    A category outside `[review] categories` leaves the criterion unmeasured (None).
    """
    judge: JudgeConfig = config.judge
    known = set(config.review.categories)
    overrides = {c.id: c for c in judge.criteria}
    out: list[Criterion] = []
    for name in judge.builtin:
        base, team = BUILTIN[name], overrides.get(name)
        category = team.category if team and team.category else base.category
        out.append(
            Criterion(
                name,
                team.question if team and team.question else base.question,
                category if category in known else None,
                base.label,
                base.needs_kb_text,
            )
        )
    for team in judge.criteria:
        if team.id in BUILTIN:
            continue
        category = team.category if team.category in known else None
        out.append(Criterion(team.id, team.question or "", category, label_of(team.id)))
    return out


def label_of(criterion_id: str) -> str:
    """How the card names a criterion: the built-in's label, else its id in words."""
    builtin = BUILTIN.get(criterion_id)
    return builtin.label if builtin else criterion_id.replace("_", " ")


def prompt_version(criteria: Sequence[Criterion]) -> str:
    """The key part that changes with the prompt's wording or any criterion."""
    return "p-" + _digest(PROMPT_TEMPLATE + "\n" + "\n".join(c.version for c in criteria))[:16]


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()
