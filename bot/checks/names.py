"""name_mismatch, the reading side: whom the opening of a reply addresses by name.

A reply addresses someone in its greeting ("Hi Dana,", "Morning Jess!", "Dear Dr. Osei,"), after
a run of @handles (Twitter/X replies start with them), or in its opening sentence ("Thanks for
getting in touch, Paulo."; "Sorry for the wait, Jess!"; "Thanks, Mr. Osei — …"). A word is read as
a name only where a name can stand: followed by punctuation, a dash, an emoji or the line's end
(not by the rest of a sentence, as in "Hi, Thanks for…" or "Hi, Maria from billing here"),
capitalised (or in a script without case), and not a word of the kinds in words.py (weekdays,
sentence adverbs, "Happy Friday").
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

from bot.checks.given_names import known_name
from bot.checks.words import CALENDAR, GROUP_WORDS, LY_NAMES, NOT_NAMES, PARTICLES, TITLES, words

HANDLES = re.compile(r"[ \t]*(?:\.?@\w+[ \t]*[,:]?[ \t]*)+")
GREETING = re.compile(
    r"(?:[¡¿][ \t]*)?"  # ¡Hola Valeria!
    r"(?P<greet>hi|hello|hey|heya|hiya|howdy|yo|dear|greetings|hola|hallo|bonjour|ciao|hej|olá|salut|oi|hoi"
    r"|beste|estimad[oa]|gentile|querid[oa]|liebe|lieber|sehr[ \t]+geehrte[rs]?|merci|gracias|obrigad[oa]"
    r"|danke|grazie|bedankt|namaste|merhaba|عزيزي|عزيزتي|مرحبا|مرحباً"
    r"|moin|servus|(?:good[ \t]+)?(?:morning|afternoon|evening|day)|welcome(?:[ \t]+back)?"
    r"|thanks|thank[ \t]+you|many[ \t]+thanks|cheers|congrats|congratulations)"
    r"(?:[ \t]+(?:again|there|so[ \t]+much))??"
    r"(?:[ \t]*,[ \t]*|[ \t]+)",
    re.IGNORECASE,
)
# Titles before a name, several ("Frau Dr. Schmidt") or two people's ("Mr. and Mrs. Jensen").
_ONE_TITLE = rf"(?:{'|'.join(re.escape(t) for t in sorted(TITLES, key=len, reverse=True))})\.?"
_TITLE = re.compile(
    rf"{_ONE_TITLE}(?:[ \t]+(?:and|&)[ \t]+{_ONE_TITLE}|[ \t]+{_ONE_TITLE})*[ \t]+", re.IGNORECASE
)
# A slot where the greeting's name goes: [name], <name>, %s, {0}, $first_name, :name, __NAME__.
_SLOT = re.compile(r"\[[^\]\n]{1,40}\]|<[^>\n]{1,40}>|%s\b|\{\d\}|\$[A-Za-z_]\w*|:[a-z_]+\b|__[A-Za-z_]+__")
# Emoji and pictographs, which end an address as punctuation does ("Hey Kevin 👋 your…").
_EMOJI = "\u2600-\u27bf\U0001f000-\U0001faff"
# Where an address ends: punctuation, a spaced dash, an emoji, a line end.
_CUT = re.compile(rf"[,،、，!.:;?—–()\[\]{{}}\"“”{_EMOJI}]|[ \t]-(?:[ \t]|$)|\n|$")
# A name after the opening sentence's comma, ending it ("…, Paulo.") or before a dash or an emoji
# that goes on ("Thanks for waiting, Daniel — your refund…"); an en dash only spaced ("Jan–Mar"
# is a range).
_VOCATIVE_END = re.compile(
    r",[ \t]+(?P<title>(?:Mr|Mrs|Ms|Mx|Miss|Dr|Prof|Sir|Madam)\.?[ \t]+)?"
    r"(?P<words>[^\W\d_][\w'’\-]*(?:[ \t]+[^\W\d_][\w'’\-]*){0,2})[ \t]*"
    rf"(?:[.!?]+|[—{_EMOJI}]|(?<=[ \t])[–-][ \t]|$)"
)
# An opening sentence that speaks to the customer starts with thanks, an apology, a welcome…
_PHATIC = re.compile(
    r"(?:(?:really|so|very|truly|terribly|deeply|awfully)[ \t]+)?"
    r"(?:thanks|thank|many|cheers|sorry|so[ \t]+sorry|apologies|welcome|great|good|glad|happy|nice|lovely"
    r"|hope|hoping|appreciate|congrats|congratulations|no[ \t]+worries|of[ \t]+course|sure|absolutely"
    r"|hi|hello|hey|hiya|heya|dear|morning|afternoon|evening"
    r"|(?:i|we)(?:'m|’m|[ \t]+am|'re|’re|[ \t]+are)[ \t]+(?:so[ \t]+|really[ \t]+|very[ \t]+)?"
    r"(?:sorry|glad|happy|thrilled|sad|delighted))\b",
    re.IGNORECASE,
)
# A given name that opens the reply before a comma, colon or dash, then thanks or an apology
# ("Kevin — thanks for…", "Julia, so sorry…"): the name must be one a list of names holds
# (`known_name`), since any capitalised word may open a sentence ("Again, thanks…", "Perfect — thanks!").
_LEADING = re.compile(r"(?P<name>[A-ZÀ-ÖØ-Þ][a-zß-öø-ÿ'’]+)[ \t]*(?P<sep>[,:—–]|-(?=[ \t]))[ \t]*")
# Without thanks after it, a name before a comma or a dash still opens the reply when a sentence to
# the customer follows ("Samantha, the export is ready"; "Samantha — your refund…").
_TO_THEM = re.compile(r"[a-z]|I\b")
# "Kevin, our billing lead, has…", "Kevin, who runs billing, …": Kevin is spoken of
# (a determiner and a role, or one word: "Samantha, your refund went through, so…" is to Samantha)
_APPOSITIVE = re.compile(
    r"(?:(?:our|my|the|your|a|an)(?:[ \t]+[\w'’-]+){0,2}[ \t]+(?:lead|manager|head|director|engineer"
    r"|agent|colleague|specialist|rep|representative|owner|admin|administrator|supervisor|expert|contact"
    r"|partner|assistant|accountant|founder|ceo|cto|cfo)s?"
    r"|(?:our|my|the|your|a|an)[ \t]+[\w'’-]+|(?:who|whose)\b[^,.!?\n]{0,40}),"
)
# A closing sentence that speaks to the customer and ends with their name, asking or exclaiming
# ("Anything else I can help with, Kevin?", "Have a great weekend, Kevin!", "Thanks again, Kevin,
# and sorry…"); not what may be the writer's sign-off ("Thanks again,\nKevin", "All the best, Kevin.").
CLOSING_NAME = re.compile(
    r",[ \t]+(?P<name>[A-ZÀ-ÖØ-Þ][a-zß-öø-ÿ'’\-]+)(?:[ \t]*[?!]|,[ \t]+(?:and|&)[ \t]|(?P<stop>\.))"
)
# A full stop ends an address only after thanks or an apology *for* something ("Thanks again for
# your patience, Sarah."): "All the best, Kevin." or "Thanks, Kevin." may be the writer signing off.
_THANKS_FOR = re.compile(
    r"[ \t]*(?:(?:many|huge|big)[ \t]+)?(?:thanks|thank[ \t]+you|sorry|apologies|cheers)"
    r"(?:[ \t]+(?:again|so[ \t]+much|very[ \t]+much))?[ \t]+for[ \t]",
    re.IGNORECASE,
)
_CLOSING_THANKS = re.compile(
    r"[ \t]*(?:(?:many|huge|big)[ \t]+)?(?:thanks|thank[ \t]+you|sorry|apologies|cheers"
    r"|(?:(?:i|we)[ \t]+)?(?:really[ \t]+|truly[ \t]+)?appreciate)\b",
    re.IGNORECASE,
)
_CLOSING = re.compile(
    r"[ \t]*(?:is[ \t]+there[ \t]+)?(?:anything[ \t]+else|have[ \t]+a|enjoy|take[ \t]+care"
    r"|let[ \t]+(?:me|us)[ \t]+know|talk[ \t]+soon|speak[ \t]+soon|good[ \t]+luck|all[ \t]+the[ \t]+best"
    r"|best[ \t]+of[ \t]+luck|see[ \t]+you|stay[ \t]+safe|hope[ \t]+(?:this|that|you))\b",
    re.IGNORECASE,
)
CLOSING_TAIL = 300  # characters at a reply's end read for a closing address
# An East Asian name with its honorific opening the reply: "田中様", "이서연 님,", "尊敬的王先生：". Not
# the customer or everyone in general ("お客様", "皆様", "ご担当者様", "고객님", "회원님"): those are
# left out of the name ("김민준 고객님" is 김민준).
# Each script's letters (Hangul's jamo too: what NFKD makes of its syllables).
EAST_ASIAN_SCRIPTS = {
    "kana": "\u3040-\u30ff",
    "hangul": "\u1100-\u11ff\u3130-\u318f\uac00-\ud7af",
    "han": "\u3400-\u4dbf\u4e00-\u9fff",
}
EAST_ASIAN = "".join(EAST_ASIAN_SCRIPTS.values())
_HONORIFIC_OPENING = re.compile(
    rf"(?:안녕하세요[,.!]?[ \t]*)?(?:(?:尊敬的|亲爱的|親愛的)[ \t]*)?"
    rf"(?P<name>[{EAST_ASIAN}]{{1,8}}(?:[ \t\u3000][{EAST_ASIAN}]{{1,8}})?)"
    r"[ \t\u3000]?(?P<title>様|さま|さん|殿|님|先生|女士|小姐)"
)
_ANYONE = words(
    "お客 皆 皆さ みな みなさ ご担当者 担当者 ご担当 各位 お客さま 客户 用户 顾客 客戶 用戶 "
    "고객 회원 여러분 담당자 관리자 사용자"
)
# A sentence goes on past a title's full stop ("Thanks, Mr. Osei.").
_TITLE_STOP = "|".join(rf"(?<=\b{t})\." for t in ("Mr", "Mrs", "Ms", "Mx", "Dr", "Prof"))
_FIELD = re.compile(r"[A-Z]*_?(?:FIRST|LAST|FULL|CUSTOMER|CONTACT|USER)_?NAME|F_?NAME|[A-Z]+_[A-Z_]+")
_LINE_START = re.compile(r"\n[ \t]*")
_PLACE_BEFORE = re.compile(r"\b(?:in|at|from|to|near|via|through|of)[ \t]+[A-Z][\w'’\-]*$")
_SENTENCE = re.compile(rf"(?:[^\n.!?]|{_TITLE_STOP})*(?:[.!?]+|\n|$)")
_WORD = re.compile(r"[^\W\d_]+")
# Letters that NFKD does not decompose but that people drop just like accents.
_FOLD = str.maketrans({"ø": "o", "Ø": "O", "ł": "l", "Ł": "L", "đ": "d", "Đ": "D", "æ": "ae"})
OPENING = 400  # characters of a reply read for its addressee
MAX_WORDS = 8  # an address longer than this is a sentence


@dataclass(frozen=True)
class Addressed:
    """The people a reply's opening names, as written, and where the first of them stands."""

    people: tuple[str, ...]
    start: int
    end: int
    titled: bool = False  # "Dear Dr. Osei": a surname
    slot: str | None = None  # "Hi [name],": a template slot where a name belongs
    romanised: bool = True  # compared with a name in Latin letters by romanising it (not Japanese Han)


@lru_cache(maxsize=65536)
def name_tokens(name: str) -> tuple[str, ...]:
    """Accent- and case-insensitive tokens of a person's name ("Zoë Müller" -> zoe, muller)."""
    decomposed = unicodedata.normalize("NFKD", name.translate(_FOLD))
    plain = "".join(c for c in decomposed if not unicodedata.combining(c))
    return tuple(_WORD.findall(plain.casefold()))


def capitalised(token: str) -> bool:
    first = token[0]
    return first.isupper() or not first.islower()  # scripts without case are neither


def not_a_name(token: str) -> bool:
    """A word that may stand capitalised where a name would, but is not one ("Thanks", "Friday")."""
    key = token.strip(".'’").casefold().replace("’", "'")
    if key in NOT_NAMES or key in CALENDAR or key in GROUP_WORDS:
        return True
    return key.endswith("ly") and key not in LY_NAMES  # "Unfortunately," "Sadly,"


def people_in(words: str) -> list[str] | None:
    """The names in a run of words that addresses someone, or None when the run is a sentence.

    "Ana and Marcus" -> [Ana, Marcus]; "Ana and team" -> [Ana]; "Acme team" -> [] (a company's
    team); "Thanks for reaching out", "Maria from billing" -> None (a lower-case word that is not a
    particle of a name means a sentence goes on); "Happy Friday" -> [] (not names).
    """
    people: list[str] = []
    current: list[str] = []
    tokens = words.replace("&", " and ").split()
    if len(tokens) > MAX_WORDS:
        return None
    for k, token in enumerate(tokens):
        low = token.casefold()
        if low == "and":
            if current:
                people.append(" ".join(current))
            current = []
        elif low in GROUP_WORDS:
            current = []  # "Hi Acme team": the team of a company, not a person
        elif capitalised(token) or (low in PARTICLES and (current or _before_name(tokens, k + 1))):
            current.append(token)
        else:
            return None
    if current:
        people.append(" ".join(current))
    return [p for p in people if not not_a_name(p.split()[0]) and not any(_calendar(w) for w in p.split())]


def _before_name(tokens: list[str], at: int) -> bool:
    """Particles from `at` on, then a capitalised word: after a title, "Mr. van den Broek"."""
    while at < len(tokens) and tokens[at].casefold() in PARTICLES:
        at += 1
    return at < len(tokens) and capitalised(tokens[at])


def _calendar(word: str) -> bool:
    return word.casefold() in CALENDAR


def addressed(reply: str) -> Addressed | None:
    """Whom the reply's opening addresses by name; None if nobody by a name we can read."""
    text = reply[:OPENING]
    handles = HANDLES.match(text)
    begin = handles.end() if handles else 0
    begin += len(text[begin:]) - len(text[begin:].lstrip())
    m = GREETING.match(text, begin)
    if m is not None:
        found = _after_greeting(text, m.end())
        if found is not None:
            return found
    leading = _leading(text, begin) if m is None else None  # "Merci, votre…": a greeting, no name
    return leading or _honorific(text, begin) or _vocative(text, begin)


def _honorific(text: str, begin: int) -> Addressed | None:
    """The East Asian name an honorific opening gives ("田中様"), less any word for the customer."""
    m = _HONORIFIC_OPENING.match(text, begin)
    if m is None:
        return None
    words = [w for w in m.group("name").split() if w not in _ANYONE]
    if not words:
        return None
    start = m.start("name") + m.group("name").index(words[0])
    chinese = m.group("title") in ("先生", "女士", "小姐")
    return Addressed(tuple(words), start, start + len(words[0]), romanised=chinese)


def later_greetings(reply: str, after: int) -> list[Addressed]:
    """The people greeted at the start of a later line of the opening ("Thanks, Ahmed, I'll take it
    from here.\n\nHi Rosa,"): a reply may speak to a colleague before it turns to the customer."""
    text = reply[:OPENING]
    found = []
    for line in _LINE_START.finditer(text, after):
        m = GREETING.match(text, line.end())
        if m is not None and (addr := _after_greeting(text, m.end())) is not None and addr.people:
            found.append(addr)
    return found


def vocative(reply: str) -> Addressed | None:
    """Only the opening-sentence part of `addressed` (for a reply whose greeting names nobody)."""
    text = reply[:OPENING]
    handles = HANDLES.match(text)
    begin = handles.end() if handles else 0
    return _vocative(text, begin + len(text[begin:]) - len(text[begin:].lstrip()))


def _after_greeting(text: str, at: int) -> Addressed | None:
    slot = _SLOT.match(text, at)
    if slot is not None:
        return Addressed((), slot.start(), slot.end(), slot=slot.group())
    title = _TITLE.match(text, at)
    start = title.end() if title else at
    cut = _CUT.search(text, start)
    end = cut.start() if cut else len(text)
    head = text[start:end].rstrip()
    if _FIELD.fullmatch(head):  # "Hi FIRSTNAME,": a field's name where the name belongs
        return Addressed((), start, start + len(head), slot=head)
    if not head or not _only_words(head):
        return None
    people = people_in(head)
    if not people:
        return None
    return Addressed(tuple(people), start, start + len(head), titled=title is not None)


def _only_words(head: str) -> bool:
    """Letters (with ' ’ - inside words), spaces and "&" only: no digits, braces, @ or URLs."""
    return all(c.isalpha() or c in " \t&'’-" for c in head)


def _cased_name(words: str) -> bool:
    """Every word capitalised, in a script with case: outside a greeting, case is the only sign."""
    return all(w[0].isupper() for w in words.split())


def closing(reply: str) -> Addressed | None:
    """A known given name that ends a closing sentence near the reply's end ("…, Kevin?")."""
    for m in CLOSING_NAME.finditer(reply, max(0, len(reply) - CLOSING_TAIL)):
        at = m.start()
        start = max(reply.rfind(stop, 0, at) for stop in ".!?\n") + 1
        name = m.group("name")
        if m.group("stop") is not None:
            if at - start > 100 or not _THANKS_FOR.match(reply, start):
                continue
        elif at - start > 100 or not (_CLOSING.match(reply, start) or _CLOSING_THANKS.match(reply, start)):
            continue
        if not not_a_name(name) and known_name(name):
            return Addressed((name,), m.start("name"), m.end("name"))
    return None


def _leading(text: str, begin: int) -> Addressed | None:
    """A known given name that opens the reply and turns to the customer ("Kevin — thanks…")."""
    m = _LEADING.match(text, begin)
    if m is None or not_a_name(name := m.group("name")):
        return None
    if _PHATIC.match(text, m.end()):
        found = known_name(name)
    else:  # no thanks after it: a name no list calls a word, then a sentence to the customer
        found = (
            m.group("sep") != ":"
            and _TO_THEM.match(text, m.end()) is not None
            and _APPOSITIVE.match(text, m.end()) is None
            and known_name(name, no_word=True)
        )
    return Addressed((name,), m.start("name"), m.end("name")) if found else None


def _vocative(text: str, begin: int) -> Addressed | None:
    """A name at the end of an opening sentence that speaks to the customer ("Thanks…, Paulo.")."""
    if _VOCATIVE_END.search(text, begin) is None:
        return None  # no "…, Name." anywhere in the opening: the common case, decided in one scan
    sentences = []
    for m in _SENTENCE.finditer(text, begin):
        if m.group().strip():
            sentences.append((m.start(), m.end()))
            if len(sentences) == 2 or m.end() - begin >= 25:
                break
        if m.end() >= len(text):
            break
    if not sentences:
        return None
    for s, e in sentences:
        opening = text[s:e]
        if not _PHATIC.match(opening.lstrip(" \t\n,!")):
            continue
        for m in _VOCATIVE_END.finditer(opening):
            if _PLACE_BEFORE.search(opening, 0, m.start()):
                continue  # "in Frankfurt, Germany.": a place and its country, not an address
            words = m.group("words")
            if _cased_name(words):
                people = people_in(words)
                if people and len(people) == 1:
                    start, end = s + m.start("words"), s + m.end("words")
                    return Addressed((people[0],), start, end, titled=m.group("title") is not None)
    return None
