"""name_mismatch: the opening greeting names someone other than the customer (accents and case aside)."""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

GREETING = re.compile(
    r"\s*(?:hi|hello|hey|hiya|howdy|dear|greetings|good\s+(?:morning|afternoon|evening|day)"
    r"|hola|hallo|bonjour|ciao|hej|olá)"
    r"(?:[ \t]+again)?[ \t,]+"
    r"(?:(?:mr|mrs|ms|mx|miss|dr|prof)\.?[ \t]+)?"
    r"(?P<name>[^\W\d_][\w'’\-]*(?:[ \t]+[^\W\d_][\w'’\-]*){0,3})"
    r"[ \t]*(?:[,!.:;?—–-]|\n|$)",
    re.IGNORECASE,
)
# Greeting words that address nobody in particular.
_NOT_NAMES = frozenset(
    {
        "there", "all", "everyone", "everybody", "team", "folks", "friend", "friends",
        "customer", "again", "sir", "madam", "user", "valued", "guys", "you", "both", "and",
        "welcome",
    }
)  # fmt: skip
# Letters that NFKD does not decompose but that people drop just like accents.
_FOLD = str.maketrans({"ø": "o", "Ø": "O", "ł": "l", "Ł": "L", "đ": "d", "Đ": "D", "æ": "ae"})
_WORD = re.compile(r"[^\W\d_]+")


@lru_cache(maxsize=65536)
def name_tokens(name: str) -> tuple[str, ...]:
    """Accent- and case-insensitive tokens of a person's name ("Zoë Müller" -> zoe, muller)."""
    decomposed = unicodedata.normalize("NFKD", name.translate(_FOLD))
    plain = "".join(c for c in decomposed if not unicodedata.combining(c))
    return tuple(_WORD.findall(plain.casefold()))


def greeted_name(reply: str) -> str | None:
    """The name in the reply's opening greeting ("Hi Dana," -> "Dana"), or None."""
    m = GREETING.match(reply)
    return m.group("name") if m is not None and _is_name(m.group("name")) else None


def _is_name(words: str) -> bool:
    # "Hello and welcome!", "Hi there,": not addressed to a name. Scripts without case pass.
    return not words[0].islower() and words.split()[0].casefold() not in _NOT_NAMES


@lru_cache(maxsize=65536)
def is_other_person(greeted: str, customer: str) -> bool:
    """True if the greeting addresses a name with a part that is not in the customer's name."""
    wanted = set(name_tokens(customer))
    if not wanted or not _is_name(greeted):
        return False
    # Lower-case words are not names: "Hi Dana and team," greets Dana.
    named = [w for w in greeted.split() if not w[0].islower()]
    return not set(name_tokens(" ".join(named))) <= wanted
