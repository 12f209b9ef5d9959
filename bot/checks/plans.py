"""plan_mismatch: the reply says the customer is on a configured plan that is not theirs.

A plan name counts where the reply gives it to the customer: "your Team plan/subscription/
account/contract/workspace" (also "your company's Team plan", "your Team-tier account"), "as a Pro
customer", "Pro customers like you", "you're on (the/our) Basic (plan)", "you're subscribed to
Basic", "you pay for Pro", "your subscription to Pro", "the Team plan you're currently on", "your
plan is Pro", "your plan (Pro)", "you have the Pro plan".
It does not count where the sentence is about another plan than the current one: after a
condition or a change ("if you upgrade, your Pro plan…", "moved you from your Basic plan to Pro",
"after that your Free plan…", "your previous Basic plan"), when the customer named that plan
themselves (two accounts, two plans), or when the name is an ordinary word in lower case ("your
team account"; only "your team plan/tier/subscription" still counts, unless plans are
case-sensitive: then the case must be the configured one).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache

from bot.checks.words import GROUP_WORDS, words

_AP = r"(?:'|’)"
# your company's Pro plan, your practice's Business subscription
_OWNERS = sorted(
    words(
        "company team organization organisation org business workspace practice clinic firm agency school "
        "store shop household family"
    )
)
_OWNER = rf"(?:{'|'.join(_OWNERS)})"
# not "trial" (a trial of another plan is no mistake), "workspace", "seats"
_NOUN = (
    r"(?:plans?|subscriptions?|accounts?|tiers?|memberships?|contracts?|licen[cs]es?|packages?|editions?"
    r"|bundles?|agreements?|invoices?|renewals?)"
)
# One lower-case word between the name and a plan noun: "your Hobby broadband plan" ("your Pro
# Tools licence" is a product's name: capitalised).
_WORD_THEN = r"[ \t]+[a-z][a-z-]*[ \t]+(?:plan|package|subscription|tier|membership)s?\b"
_WORD_THEN_NOUN = re.compile(_WORD_THEN)
_CALLED_PLAN = re.compile(r"[\s-]+(?:plan|tier)s?\b", re.IGNORECASE)  # "your team plan", in lower case
_STRONG_NOUN = re.compile(r"[\s-]+(?:plan|tier|subscription|membership|package|edition|licen[cs]e)s?\b", re.I)
# What comes before a plan name that gives it to the customer (matched at the end of the text
# before the name); each alternative names what must follow the plan name.
_WS = r"[ \t\n]+"
# Frames in other languages: "votre formule Basic", "en tant qu'abonnée Plus", "tu plan Pro", "il
# tuo piano Pro", "você está no plano Free", "aapka Pro plan", "Ihr Pro-Tarif", "je Free-abonnement"
# (German and Dutch only with the hyphenated noun: "Ihr Team" is the customer's team).
_FOREIGN_NOUN = (
    r"(?:formule|forfait|abonnement|offre|plan|tarif|compte|suscripci[oó]n|tarifa|cuenta|piano|abbonamento"
    r"|tariffa|plano|assinatura|pacote)"
)
_GERMAN_NOUNS = r"tarif|abo|abonnement|paket|pakket|konto|vertrag"  # and Dutch
_GERMAN_NOUN = re.compile(rf"-(?:plan|{_GERMAN_NOUNS})\b", re.IGNORECASE)
# "da Sie den Pro-Tarif nutzen", "omdat je op het Free-abonnement zit": the customer is in the
# sentence ("Sie" capitalised: "sie" is she or they)
_YOU_THERE = re.compile(r"\b(?:Sie|Ihnen|(?i:du|dich|dir|je|u))\b")
_BEFORE = re.compile(
    rf"(?:\b(?P<your>(?:your|aapka|aapki|apka|apki|aapke){_WS}(?:{_OWNER}{_AP}s{_WS})?(?P<adj>(?:(?:current|existing|present|active|paid|annual|monthly|yearly|old"
    rf"|previous|former|prior|past|earlier|legacy){_WS})*))"
    rf"|\b(?P<member>(?:as|you{_AP}re|you{_WS}are|being){_WS}(?:such{_WS})?an?{_WS}"
    rf"(?:(?:loyal|valued|long-?time|longstanding){_WS})?)"
    rf"|\b(?P<on>(?:you{_AP}re|you{_WS}are|you{_AP}ve{_WS}been|you{_WS}have{_WS}been|your{_WS}account{_WS}is"
    rf"|(?:being|staying|sticking){_WS}with{_WS}us|for{_WS}being"  # thanks for being on our Team plan
    rf"|your{_WS}(?:workspace|{_OWNER}){_WS}is|we{_WS}have{_WS}you){_WS}(?:(?:currently|still|now|already){_WS})?"
    rf"(?:on|subscribed{_WS}to|signed{_WS}up{_WS}(?:for|to)|using|enrolled{_WS}in|paying{_WS}for|(?P<in>in))"
    rf"{_WS}(?:(?:the|a|an|your|our){_WS})?)"
    rf"|\b(?P<pay>you{_WS}(?:(?:currently|still|now|already){_WS})?(?:pay{_WS}for|subscribe{_WS}to){_WS}"
    rf"(?:(?:the|our){_WS})?)"
    rf"|\b(?P<subto>your{_WS}(?:current{_WS})?(?:subscription|membership){_WS}(?:to|for){_WS}(?:the{_WS})?)"
    rf"|\b(?P<planis>your{_WS}(?:current{_WS})?(?:plan|subscription|tier|package|membership){_WS}(?:is|remains)"
    rf"{_WS}(?:(?:still|currently){_WS})?(?:the{_WS}|on{_WS}the{_WS})?)"
    # "Current plan: Pro"; "Plan: Pro" or "| Plan | Pro |" alone on a line (an account's summary)
    rf"|\b(?P<label>(?P<owned>(?:current|your)(?:{_WS}current)?{_WS})?(?:plan|subscription|tier)[ \t]*"
    r"(?P<sep>[:|])[ \t]*)"
    rf"|\b(?P<have>you{_WS}(?:have|own|purchased|bought|chose|picked){_WS}(?:an?|the){_WS})"
    rf"|\b(?P<foreign>(?:votre|vos|ton|ta|tu|su|tus|sus|tuo|tua|suo|sua|vostro|vostra|seu|teu){_WS}{_FOREIGN_NOUN}{_WS}"
    rf"|(?:est[áa]s?|fica|continua){_WS}no{_WS}plano{_WS}"
    rf"|en{_WS}tant{_WS}(?:qu{_AP}abonn[ée]e?|que{_WS}(?:client|cliente|membre)){_WS}"
    rf"|como{_WS}(?:cliente|suscriptora?|miembro|usuari[oa]){_WS}(?:d[eo]l?{_WS}plano?{_WS})?"
    rf"|(?P<ihr>ihr|ihrem|ihren|ihres|dein|deinem|deinen|deines|je|jouw|uw){_WS}"
    rf"|(?P<article>den|dem|im|unseren|unserem|op{_WS}het|het){_WS})"
    rf"|\b(?P<the>the{_WS}))$",
    re.IGNORECASE,
)
_AFTER_NOUN = re.compile(rf"[\s-]+{_NOUN}\b", re.IGNORECASE)
# After "your": a workspace too ("your Team workspace"), not after "in" ("in the Team workspace"
# may name the workspace, not the plan).
_AFTER_YOUR = re.compile(rf"[\s-]+(?:{_NOUN}|workspaces?)\b", re.IGNORECASE)
_AFTER_MEMBER = re.compile(
    r"[ \t]+(?P<plan>plan[ \t]+)?"
    r"(?:customer|(?P<member>member)|subscriber|user|client|account[ \t]+holder|plan[ \t]+holder)s?\b",
    re.IGNORECASE,
)
# "the Team plan you're on", "… you've chosen", "… you pay for"; not "… you're considering", "… you
# used to be on".
_AFTER_THE = re.compile(
    r"[ \t]+(?:plan|tier|subscription|package|membership)[ \t]+(?:that[ \t]+|which[ \t]+)?you"
    rf"(?:(?:{_AP}re|[ \t]+are)[ \t]+(?:(?:currently|still|now|already)[ \t]+)?"
    r"(?:on|in|using|paying|subscribed|signed|enrolled)"
    rf"|(?:{_AP}ve|[ \t]+have)[ \t]+(?:got|been|chosen|picked|purchased|bought|selected|subscribed)"
    r"|[ \t]+(?:currently|signed|subscribed|chose|picked|purchased|bought|pay|use|have))\b"
    r"(?![ \t]+in[ \t]+mind)",  # "the Enterprise plan you have in mind"
    re.IGNORECASE,
)
# In the same sentence, before the name: a condition, a change of plan, a time after a change.
_ELSEWHERE = re.compile(
    r"\b(?:if|unless|once|when|whenever|whether|before|should[ \t]+you|were[ \t]+you|after|afterwards"
    r"|thereafter|from[ \t]+then"
    r"|upgrad\w*|downgrad\w*|switch\w*|mov(?:e|ed|es|ing)|migrat\w*|convert\w*|transferr?\w*"
    r"|instead[ \t]+of|rather[ \t]+than|compared"
    r"|si|lorsque|quand|après|avant|wenn|falls|sobald|nachdem|bevor|cuando|después|antes)\b",
    re.IGNORECASE,
)
_FROM = re.compile(r"\bfrom[ \t]+(?:your[ \t]+|the[ \t]+)?$", re.IGNORECASE)
# Right after the plan (and its noun), it is said to be over or yet to come ("your Pro plan was
# cancelled", "your Basic plan will start on 1 July"), or it is a document about it ("your
# Enterprise plan quote").
_OVER = re.compile(
    rf"(?:[\s-]+(?:{_NOUN}|workspaces?|{_GERMAN_NOUNS}))?[ \t]+"
    r"(?:(?:(?:was|were|is|has|had|got)[ \t]+(?:been[ \t]+)?(?:\w+[ \t]+)?)?"
    r"(?:cancell?ed|ended|expired|lapsed|terminated|refunded|closed|discontinued)\b"
    r"|(?:will|would|shall|is[ \t]+going[ \t]+to)[ \t]+(?:\w+[ \t]+)?"
    r"(?:start|begin|kick|take|become|apply|be[ \t]+active)"
    r"|(?:starts|begins|takes[ \t]+effect|kicks[ \t]+in)\b"
    r"|(?:quote|quotation|proposal|pricing|estimate|offer|comparison|brochure|price)s?\b"
    r"|[^.!?\n]{0,30}\b(?:résiliée?|annulée?|expirée?|gekündigt|abgelaufen|cancelad[oa]|vencid[oa])\b)",
    re.IGNORECASE,
)
# What may follow a plan name in a frame that does not need a plan noun after it ("you pay for
# Pro, so…"): the end of a clause, a plan noun; not another word of a name ("our Pro Tips
# newsletter", "our Enterprise webinar").
_CLAUSE_END = re.compile(
    rf"[\s-]+(?:{_NOUN}|workspaces?)\b|{_WORD_THEN}|[ \t]*(?:[.,;:!?)—–]|\n|$)"
    r"|[ \t]+(?:and|or|so|but|which|since|because|as|until|now|today|yet|too|already|again|at|for|with"
    r"|from|on|in|this|that|includes?|gives?|covers?|comes?|has|have|is|was)\b",
    re.IGNORECASE,
)
# After the name: another capitalised word, an interface's page, "of" something (a product's tier).
_NAME_GOES_ON = re.compile(
    r"[ \t]+(?:[A-Z]|(?i:(?:page|tab|screen|section|view|menu|site|fare|ticket|seat|class)s?\b|of[ \t]+\w))"
    r"|(?i:[\s-]+(?:edition|tier|plan|version)[ \t]+of[ \t])"
)
_NAMED = re.compile(r"[A-Z][\w-]*[ \t]+$")
# A frame that ends in "our" or "your" right before the name ("you're on our/your …", "your …").
_OUR_END = re.compile(r"\by?our\s*$", re.IGNORECASE)
_ASKING = re.compile(r"\b(?:what|how)\b", re.IGNORECASE)
# What may follow a plan given as a key's value: "(annual)", a table's closing bar, the line's end.
_VALUE_ENDS = re.compile(r"[ \t]*(?:\([^()\n]{0,40}\))?[ \t]*\|?[ \t]*(?:\n|$)")
_CURRENT = re.compile(r"\b(?:current|existing|present)\b", re.IGNORECASE)
_OLD = re.compile(r"\b(?:old|previous|former|prior|past|earlier|legacy)\b", re.IGNORECASE)
_STOP = re.compile(r"[.!?;](?:\s|$)|\n\s*\n")
LOOK = 90  # characters read on either side of a plan name


def plan_key(plan: str) -> str:
    return _plan_key(plan)


@lru_cache(maxsize=1024)
def _plan_key(plan: str) -> str:
    key = " ".join(plan.lower().split())
    return key.removesuffix(" plan")


@lru_cache(maxsize=4096)
def customer_plans(plan: str | None) -> frozenset[str]:
    """The plan keys of a customer record: "Team, Pro" or "Team / Pro" (two accounts) gives both."""
    if not plan:
        return frozenset()
    return frozenset(_plan_key(p) for p in re.split(r"\s*(?:[,;/&+|]|\band\b)\s*", plan) if p.strip())


def names_patterns(plans: Sequence[str]) -> list[re.Pattern[str]]:
    """One pattern per plan, each the plan as a word right after a word that can precede it in a
    frame (`_LAST_WORDS`), in lower-cased text. One per plan, each led by a literal, and the
    preceding word tested by fixed-width lookbehinds: this runs on every reply of an import, and
    most plan names in text ("the Acme team") fail right there, in C."""
    by_length: dict[int, list[str]] = {}
    for w in sorted(_LAST_WORDS):
        by_length.setdefault(len(w), []).append(re.escape(w))
    # one lookbehind per word length (a lookbehind must have one width), not one per word
    before = "|".join(rf"(?<=\b(?:{'|'.join(ws)})\s{{HEAD}})" for ws in by_length.values())
    ours = "|".join(rf"(?<=\b{w}\sour\s{{HEAD}})" for w in sorted(_BEFORE_OUR))
    patterns = []
    for key in sorted({_plan_key(p) for p in plans}, key=len, reverse=True):
        first, *rest = key.split()
        tail = "".join(rf"\s+{re.escape(w)}" for w in rest)
        head = re.escape(first)
        after = rf"(?:(?![\w-])|(?=-{_HYPHENED}))"
        piped = rf"(?<=\|\s{head})|(?<=\|{head})"  # "| Plan | Pro |"
        framed = rf"{head}(?:{before.replace('{HEAD}', head)}|{piped}){tail}{after}"
        bracketed = "|".join(rf"(?<=\b{w}\s\({head})|(?<=\b{w}\({head})" for w in _BRACKETED)
        # Every branch starts with the plan's literal, which lets the engine skip ahead fast; the
        # lookbehind comes after it ("superpro" is not "pro").
        liked = rf"{head}(?<![\w-]{head}){tail}(?={_LIKE_YOU.pattern})"
        # "on our Team plan", with its plan noun: "to our team" (everywhere) fails here, in C
        ours_framed = rf"{head}(?:{ours.replace('{HEAD}', head)}){tail}(?={_STRONG_NOUN.pattern})"
        patterns.append(re.compile(rf"{framed}|{ours_framed}|{liked}|{head}(?:{bracketed}){tail}(?=[),])"))
    return patterns


# The word right before a plan name in every frame of _BEFORE: a cheap test before the regex.
_LAST_WORDS = words(
    "your a an on to for using in the is remains currently still now already current existing present "
    "active paid annual monthly yearly old previous former prior past earlier legacy plan: "
    "formule forfait abonnement offre plan tarif compte suscripción suscripcion tarifa cuenta client "
    "cliente membre suscriptor suscriptora miembro usuario usuaria ihr ihrem ihren ihres "
    "qu'abonné qu'abonnée qu’abonné qu’abonnée tuo tua suo sua vostro vostra seu teu piano abbonamento "
    "tariffa plano assinatura pacote dein deinem deinen deines je jouw uw den dem im unseren unserem het "
    "aapka aapki apka apki aapke loyal valued long-time longtime longstanding "
    + " ".join(f"{owner}{ap}s" for owner in _OWNERS for ap in ("'", "’"))
)
# After a plan name, a frame of its own: "Enterprise customers like you", "Free-plan accounts like yours".
_LIKE_YOU = re.compile(  # not "members" nor "teams": "Team members like you" are a team's members
    r"(?:[ \t-]+plan)?[ \t]+(?:customers|users|subscribers|accounts|clients)"
    r"[ \t]+like[ \t]+(?:you|yours)\b",
    re.IGNORECASE,
)
# Before a plan name in brackets: "your plan (Plus) includes…".
_BRACKETED = ("plan", "subscription", "tier", "membership", "package")
_PAREN = re.compile(rf"\byour{_WS}(?:current{_WS})?(?:{'|'.join(_BRACKETED)})[ \t]*\($", re.IGNORECASE)
# "our" only after these ("you're on our Team plan"): "our team" alone is everywhere.
_BEFORE_OUR = words("on to for")
# A plan name joined by a hyphen to a plan noun: "your Basic-tier account", "Ihr Pro-Tarif".
_HYPHENED = rf"(?:plans?|tiers?|subscriptions?|accounts?|memberships?|{_GERMAN_NOUNS})\b"
_BEFORE_THE = words("on to for using in is remains have own purchased bought chose picked")


def _plausible(before: str, text: str, end: int) -> bool:
    tail = before[-40:].split()
    if len(tail) > 1 and tail[-1].casefold() == "our":
        return tail[-2].casefold() in _BEFORE_OUR
    if tail and tail[-1] == "|":
        return True  # a table's cell: the label frame decides
    if not tail or tail[-1].casefold() not in _LAST_WORDS:
        return False
    if tail[-1].casefold() == "the":
        prev = tail[-2].casefold() if len(tail) > 1 else ""
        return prev in _BEFORE_THE or _AFTER_THE.match(text, end) is not None
    return True


def attributed(
    text: str, start: int, end: int, *, spelled: str, case_sensitive: bool, customer_message: str | None
) -> bool:
    """True when the plan name at text[start:end] is given to the customer as their current plan."""
    said = text[start:end]
    if case_sensitive:
        if " ".join(said.split()) != spelled:
            return False
    elif said.islower() and not _CALLED_PLAN.match(text, end):
        return False  # "your team account", "your team subscription": an ordinary word, not the plan
    before = text[max(0, start - LOOK) : start]
    if _LIKE_YOU.match(text, end) or (_PAREN.search(before) and text.startswith((")", ","), end)):
        sentence = before[_sentence_start(before) :]
        if _ELSEWHERE.search(sentence) or _OVER.match(text, end) or _NAMED.search(sentence):
            return False  # _NAMED: "MacBook Pro users like you", a product's name
        return not (customer_message and _names_plan(customer_message, said))
    if not _plausible(before, text, end):
        return False
    frame = _BEFORE.search(before)
    if frame is None:
        return False
    after = text[end : end + LOOK]
    if frame.group("your") is not None:
        noun_follows = _AFTER_YOUR.match(after) or _WORD_THEN_NOUN.match(after)
        if not noun_follows or _OLD.search(frame.group("adj") or ""):
            return False
    elif frame.group("member") is not None:
        held = _AFTER_MEMBER.match(after)
        if not held or (held.group("member") and not held.group("plan") and _plan_key(said) in GROUP_WORDS):
            return False  # "as a Team member", "as a Family member": one of the group, not its plan
    elif frame.group("have") is not None or frame.group("in") is not None:
        if not _AFTER_NOUN.match(after):
            return False
    elif frame.group("ihr") is not None or frame.group("article") is not None:
        if not _GERMAN_NOUN.match(after):
            return False
        if frame.group("article") and not _YOU_THERE.search(before[_sentence_start(before) : frame.start()]):
            return False  # "im Pro-Tarif sind 10 Nutzer enthalten": about the plan, not the customer
    elif frame.group("the") is not None and not _AFTER_THE.match(after):
        return False
    elif frame.group("label") is not None and (frame.group("owned") is None or frame.group("sep") == "|"):
        at = max(0, start - LOOK) + frame.start()
        if text[text.rfind("\n", 0, at) + 1 : at].strip(" \t-*•|") or not _VALUE_ENDS.match(text, end):
            return False  # not a key and its value alone on their line: "compare plan: Pro or Team"
        return _still_given(text, end, said, customer_message)
    elif frame.group("pay") is not None and _ASKING.search(before[_sentence_start(before) : frame.start()]):
        return False  # "what you pay for Team depends on…"
    if _OUR_END.search(frame.group(0)) and not _CLAUSE_END.match(after):
        return False  # "our Enterprise webinar", "on your Pro trial": not the customer's plan itself
    if (frame.group("pay") or frame.group("subto") or frame.group("on")) and _NAME_GOES_ON.match(after):
        return False  # "you subscribe to Pro Tips", "you're on a Basic Economy fare": a longer name
    sentence = before[_sentence_start(before) : frame.start()]
    # "your current Starter plan" is the current one, whatever change the sentence talks of ("moving
    # to Pro, you'd keep everything from your current Starter plan")
    current = frame.group("your") is not None and _CURRENT.search(frame.group("adj") or "")
    if not current and (_ELSEWHERE.search(sentence) or _FROM.search(before[: frame.start()])):
        return False
    return _still_given(text, end, said, customer_message)


def _still_given(text: str, end: int, said: str, customer_message: str | None) -> bool:
    """The plan at text[…:end] is not said to be over, and the customer did not name it themselves."""
    return not _OVER.match(text, end) and not (customer_message and _names_plan(customer_message, said))


def _sentence_start(before: str) -> int:
    stops = [m.end() for m in _STOP.finditer(before)]
    return stops[-1] if stops else 0


def _names_plan(message: str, said: str) -> bool:
    """The customer's own message names this plan (e.g. a second account on it)."""
    words = r"\s+".join(re.escape(w) for w in said.split())
    return re.search(rf"(?<![\w-]){words}(?![\w-])", message, re.IGNORECASE) is not None
