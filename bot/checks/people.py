"""name_mismatch, the customer's side: who the customer is, and which names are theirs.

The record's customer name counts when it names a person (not a company, a login, a number or
"Visitor 48213"); the customer's own message adds the names they give themselves (a signature
"— Bob", "I'm Bob") and the people they copy in ("cc Marcus", "my colleague Marcus"). A greeting
matches when one of the people it names is one of these; short forms match their long form
("Alex" for "Alexandra"), usual nicknames their name ("Bob" for "Robert"), and a record with a
first name only matches a greeting that adds a surname.
"""

from __future__ import annotations

import re
import unicodedata
from difflib import SequenceMatcher
from functools import lru_cache

from bot.checks.given_names import nickname_table, world_nickname_pairs
from bot.checks.names import EAST_ASIAN, EAST_ASIAN_SCRIPTS, Addressed, name_tokens, not_a_name
from bot.checks.words import CLOSINGS, HONORIFICS, ORGANISATION_WORDS, PLACEHOLDER_NAMES, words

_EAST_ASIAN = re.compile(f"[{EAST_ASIAN}]")
_SCRIPTS = {script: re.compile(f"[{letters}]") for script, letters in EAST_ASIAN_SCRIPTS.items()}
_NAME = r"[A-Z\u00C0-\u024F][\w'’\-]*"
_NAMES = rf"{_NAME}(?:[ \t]+{_NAME}){{0,2}}"
_CLOSING = "|".join(sorted((re.escape(c).replace(r"\ ", r"[ \t]+") for c in CLOSINGS), key=len, reverse=True))
_SIGNATURE_LINE = re.compile(
    rf"^[ \t]*(?:[-—–~]+[ \t]*)?(?:(?:{_CLOSING})[ \t]*[,!.]?[ \t]+(?:[-—–~]+[ \t]*)?)?"
    rf"(?P<name>{_NAMES})[ \t]*\.?[ \t]*(?:\([^)\n]{{1,40}}\)[ \t]*)?$",  # "Ana (Leo's mum)"
    re.IGNORECASE,
)
# Signed at the end of the message's last line: "… thanks! - Ana", "… Thanks! Katya (Ekaterina Smirnova)"
_SIGNED_INLINE = re.compile(
    rf"(?:^|[\s.!?])(?:[-—–~]|(?i:{_CLOSING})[ \t]*[,!.])[ \t]*(?P<name>{_NAMES})[ \t]*\.?[ \t]*"
    r"(?:\([^)\n]{1,40}\)[ \t]*)?$"
)
# A one-line message signed by its last word after its last sentence, in any case, perhaps after a
# short closing: "Can I book? Wale", "…limit reached?? aziz", "Wir sind umgezogen. LG Steffi".
_SIGNED_LAST = re.compile(
    r"(?:[.!?…)]|[\u2600-\u27bf\U0001f000-\U0001faff])[ \t]*"
    r"(?:(?i:lg|vg|mfg|br|kr|rgds|thx|ty|tia|cheers|thanks|thank[ \t]+you|merci|obrigad[oa]|gracias|danke)"
    r"[,!.]?[ \t]+)?(?P<name>[^\W\d_][\w'’\-]{1,20})[ \t]*[.!]?[ \t]*$"
)
_VOCATIVE_AFTER = re.compile(r"[ \t]*[.!?,]")
_NOT_SIGNED = words("please pls plz thanks thx ty tia asap urgent help ok okay anyone lol haha cheers thank")
_NICKNAME = re.compile(rf"\((?P<name>{_NAME})\)")
_INTRO = re.compile(
    r"\b(?:i'm|i’m|i[ \t]+am|my[ \t]+name[ \t]+is|my[ \t]+name's|this[ \t]+is|it's|it’s|call[ \t]+me)"
    rf"[ \t]+(?P<name>{_NAME})"
    rf"|^[ \t]*(?P<here>{_NAME})[ \t]+here\b",
    re.IGNORECASE | re.MULTILINE,
)
_CC = re.compile(
    rf"\b(?:cc|cc'd|cc'ing|cc’d|copying|copied|looping[ \t]+in|looped[ \t]+in|adding|added)[ \t]*:?[ \t]+"
    rf"(?:my[ \t]+\w+[ \t]+)?(?P<name>{_NAME})"
    r"|\bmy[ \t]+(?:colleague|coworker|co-worker|manager|boss|assistant|teammate|partner|wife|husband|"
    rf"son|daughter|friend|accountant|admin|cofounder|co-founder|director)[ \t]*,?[ \t]+(?P<other>{_NAME})"
    rf"|(?P<described>{_NAME})[ \t]*\((?:our|my|the)[ \t]+[^)\n]{{1,40}}\)",  # "Ahmed (our finance lead)"
    re.IGNORECASE,
)
# Lines a mail app adds under a signature.
_BOILERPLATE = re.compile(
    r"\s*(?:sent from my\b|sent via\b|get outlook for\b|[_\-=*~]{3,}\s*$)", re.IGNORECASE
)
_QUOTED_REPLY = re.compile(
    r"^(?:On .{0,200} wrote:|-----Original Message-----|From: ).*", re.MULTILINE | re.DOTALL
)
# Romanised CJK comes as one capitalised syllable per character: "WangWei" is two names' worth.
_ROMAN_PARTS = re.compile(r"[A-Z]?[a-z]+")
_VOWELS = re.compile(r"[aeiouy]")
_SHORT_VOWELS, _LONG_VOWELS, _ALL_VOWELS = (
    re.compile(r"[aeiou]"),
    re.compile(r"[yw]"),
    re.compile(r"[aeiouyw]"),
)
_ALIKE = 0.75  # difflib's ratio: "yelena"/"elena" 0.91, "dmitry"/"dmitriy" 0.92, "maria"/"yuliya" 0.36
_ROLE_MAILBOXES = words(
    "info support admin billing sales contact hello hi team office mail noreply no-reply help service "
    "accounts accounting finance hr it ops marketing orders"
)


@lru_cache(maxsize=65536)
def customer_tokens(name: str | None, customer_id: str | None, email: str | None) -> tuple[str, ...]:
    """Name tokens of the customer when the record says who the person is; () when it cannot."""
    if name and _is_person(name, customer_id):
        return name_tokens(name)
    if email and "@" in email:  # a company or login as the name: the mailbox may still name them
        local = email.split("@", 1)[0].casefold()
        if local not in _ROLE_MAILBOXES:
            parts = [p for p in re.split(r"[._\-+\d]+", local) if len(p) >= 2 and p.isalpha()]
            if parts and len(parts) <= 3 and not any(p in _ROLE_MAILBOXES for p in parts):
                return tuple(parts) if len(parts) > 1 else ()
    return ()


def _is_person(name: str, customer_id: str | None) -> bool:
    """A person's name, as opposed to a login, a number, a company or a placeholder."""
    plain = name.strip()
    if not plain or any(c.isdigit() for c in plain) or any(c in plain for c in "@_/\\|#:"):
        return False
    if customer_id and plain.casefold() == customer_id.strip().casefold():
        return False  # the record repeats its login as the name
    words = [w.strip(".,()").casefold() for w in plain.split()]
    if any(w in ORGANISATION_WORDS for w in words) or words[0] in PLACEHOLDER_NAMES:
        return False
    return "." not in plain.replace(". ", " ").rstrip(".") or " " in plain  # "j.doe" is a login


@lru_cache(maxsize=4096)
def message_names(message: str | None) -> frozenset[str]:
    """Tokens of the names the customer gives in their message: their own and those they copy in."""
    if not message:
        return frozenset()
    text = _QUOTED_REPLY.sub("", message)
    lines = [ln for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith(">")]
    lines = [ln for ln in lines if not _BOILERPLATE.match(ln)]
    found: list[str] = []
    for line in lines[-4:]:  # a signature: name, then perhaps a title and a company
        m = _SIGNATURE_LINE.match(line)
        if m:
            found.append(m.group("name"))
        found += [n.group("name") for n in _NICKNAME.finditer(line)]
    if lines:
        m = _SIGNED_INLINE.search(lines[-1]) or _SIGNED_LAST.search(lines[-1])
        if m and m.group("name").casefold() not in _NOT_SIGNED:
            found.append(m.group("name"))
    for m in _INTRO.finditer(text):
        found.append(m.group("name") or m.group("here"))
    return _tokens(found) | message_others(message)


@lru_cache(maxsize=4096)
def message_others(message: str | None) -> frozenset[str]:
    """Tokens of the other people the customer's message names: copied in ("cc Marcus") or spoken
    of ("my colleague Marcus", "Marcus (our buyer)")."""
    if not message:
        return frozenset()
    text = _QUOTED_REPLY.sub("", message)
    return _tokens([m.group("name") or m.group("other") or m.group("described") for m in _CC.finditer(text)])


def _tokens(names: list[str]) -> frozenset[str]:
    tokens: set[str] = set()
    for name in names:
        if not not_a_name(name.split()[0]):
            tokens.update(name_tokens(name))
    return frozenset(tokens)


def _same(greeted: str, known: str) -> bool:
    """The same name, or a short form of it: "Alex"/"Alexandra", "Sam"/"Samuel" (3+ letters), its
    end ("Tunde"/"Babatunde", 4+ letters), or one of its usual nicknames: "Bob"/"Robert",
    "Liz"/"Elizabeth"."""
    if greeted == known:
        return True
    short, long = sorted((greeted, known), key=len)
    if len(short) >= 3 and len(long) >= len(short) + 3 and long.startswith(short):
        return True
    if len(short) >= 4 and len(long) >= len(short) + 3 and long.endswith(short):
        return True  # the end of a name: "Tunde"/"Babatunde", "Wale"/"Adewale", "Tina"/"Christina"
    nicknames = _nicknames()
    if (greeted, known) in nicknames or (known, greeted) in nicknames:
        return True
    if _EAST_ASIAN.search(greeted) and not _latin(known):
        return greeted in known or known in greeted  # "鈴木" of 鈴木一郎 (written without a space)
    return _latin(greeted) != _latin(known) and _across_scripts(greeted, known)


def _scripts(token: str) -> set[str]:
    """The East Asian scripts a name is written in: Han, kana, Hangul."""
    return {script for script, letters in _SCRIPTS.items() if letters.search(token)}


@lru_cache(maxsize=4096)
def _latin(token: str) -> bool:
    """Written in Latin letters ("aydın", "þóra" too: their romanisation is no comparison of theirs)."""
    return all(unicodedata.name(c, "").startswith("LATIN") for c in token if c.isalpha())


@lru_cache(maxsize=4096)
def _across_scripts(greeted: str, known: str) -> bool:
    """A name in Latin letters for one in another script ("Yelena" for Елена, "Wei" for 王伟):
    the other is romanised by `anyascii`, and since romanisations differ ("Yuliya", "Yulia") a
    close spelling is enough; for a script that writes no vowels (محمد, "mhmd") the consonants."""
    from anyascii import anyascii

    latin, other = (greeted, known) if _latin(greeted) else (known, greeted)
    for part in _ROMAN_PARTS.findall(anyascii(other).replace("'", "")):
        part = part.casefold()
        if part == latin:
            return True
        if len(part) < 4 and not _SHORT_VOWELS.search(part):
            # a short name in a script that writes no short vowels, its long ones as y and w:
            # "lyn" for لينا is Lina, consonant for consonant ("hmd", أحمد, is not Mohammed)
            bare = _LONG_VOWELS.sub("", part)
            if len(bare) >= 2 and bare == _ALL_VOWELS.sub("", latin):
                return True
        if min(len(part), len(latin)) < 4:
            continue  # syllables: "na" of 李娜 (Li Na) is not "Ana"
        if SequenceMatcher(None, latin, part).ratio() >= _ALIKE:
            return True
        if not _VOWELS.search(part):
            skeleton = _VOWELS.sub("", latin)
            if SequenceMatcher(None, skeleton, part).ratio() >= _ALIKE:
                return True
    return False


@lru_cache(maxsize=1)
def _nicknames() -> frozenset[tuple[str, str]]:
    """(nickname, given name) pairs, lower case: of English names from the `nicknames` package's
    hand-curated list, read once per process. The list also pairs names that are people's names in
    their own right ("Emily"/"Emma", "Jean"/"Jane", "Ellen"/"Helen", "Anna"/"Hannah"), and greeting
    one for the other is the mistake this check is for: a nickname that is a given name itself
    counts only when it is plainly a short form (three letters shorter, "Bob"/"Robert"; two, with
    the same first letter, "Jim"/"James"). And of names in other languages, from
    `given_names.WORLD_NICKNAMES` ("Sasha"/"Aleksandra", "Pepe"/"José")."""
    table = nickname_table()

    def short_form(nick: str, name: str) -> bool:
        shorter = len(name) - len(nick)
        return nick not in table or shorter >= 3 or (shorter == 2 and nick[0] == name[0])

    english = ((nick, name) for name, nicks in table.items() for nick in nicks if short_form(nick, name))
    return frozenset(english) | world_nickname_pairs()


def _matches(tokens: tuple[str, ...], known: tuple[str, ...] | frozenset[str]) -> bool:
    return all(any(_same(t, k) for k in known) for t in tokens)


def is_other_person(
    addr: Addressed, customer: tuple[str, ...], message: str | None = None, rest: str = ""
) -> bool:
    """True when none of the people the reply addresses is the customer (or named by them). `rest`,
    the reply after the address: one the customer spoke of whom the reply then speaks of is no
    addressee ("my colleague Ben" … "Hi Ben, I've added Ben Ortiz as an admin")."""
    if not customer or addr.slot is not None or not _none_is_customer(addr.people, addr.titled, customer):
        return False
    if not addr.romanised and all(_latin(token) for token in customer):
        return False  # "鈴木様" to Ichiro Suzuki: Japanese Han is not romanised as Chinese (Ling Mu)
    written = {script for person in addr.people for script in _scripts(person)}
    if written and all(map(_scripts, customer)) and not any(written & _scripts(t) for t in customer):
        return False  # "山田様" to ヤマダ タロウ: kana, Hangul and Han do not say how the others read
    extra = message_names(message)
    if not extra:
        return True
    known, others = extra | frozenset(customer), message_others(message)
    for person in addr.people:
        tokens = _greeted(person)
        if _matches(tokens, known) or any(_same(tokens[0], k) for k in extra):
            if rest and set(tokens) <= others and _spoken_of(person.split()[0], rest):
                continue
            return False
    return True


def _spoken_of(name: str, text: str) -> bool:
    """`name` comes in `text` otherwise than spoken to ("…, Ben!"): "I've added Ben Ortiz"."""
    for m in re.finditer(rf"(?<![\w'’-]){re.escape(name)}(?![\w'’-])", text):
        if not (text[: m.start()].endswith(", ") and _VOCATIVE_AFTER.match(text, m.end())):
            return True
    return False


def _greeted(person: str) -> tuple[str, ...]:
    """The name tokens of a person as greeted, less honorifics ("Tanaka-san", "Anil Ji")."""
    return tuple(t for t in name_tokens(person) if t not in HONORIFICS)


@lru_cache(maxsize=65536)
def _none_is_customer(people: tuple[str, ...], titled: bool, customer: tuple[str, ...]) -> bool:
    for person in people:
        tokens = _greeted(person)
        if not tokens:
            return False
        if all(len(t) == 1 for t in tokens) and _initials(tokens, customer):
            return False  # "Hi J.R.," to Jonathan Robert Whitfield
        if len(customer) == 1:  # a record with one name: a greeting may add what it lacks
            if titled or any(_same(t, customer[0]) for t in tokens):
                return False
        elif _matches(tokens, customer):
            return False
    return True


def _initials(letters: tuple[str, ...], customer: tuple[str, ...]) -> bool:
    """Each letter is the initial of another word of the customer's name, in order."""
    words = iter(customer)
    return all(any(word.startswith(letter) for word in words) for letter in letters)
