"""placeholder_leak: unfilled template variables ({{first_name}}, [FIRST_NAME], %PLAN%, *|FNAME|*).

A match is a leak only where a value should have gone. It is not one when the reply
- shows it as code or inside a URL;
- quotes it from the customer's own message, or names it on purpose: in quotes, next to
  "merge tag"/"variable"/"placeholder", after "type"/"insert"/"paste" (explaining the syntax);
- writes an operating-system variable (%TEMP%, ${PATH}) or a path or command around it;
- names a key or an interface label in brackets ([ENTER], press [Save], the [Display Name] field);
- uses one of the team's own merge tags (`[detectors] placeholder_allow`).
"""

from __future__ import annotations

import re
from collections.abc import Collection

from bot.checks.words import KEY_NAMES, OS_VARIABLES, SUBJECT_TAGS

_IDENT = r"[A-Za-z_][\w.\-]{0,60}"
# Each alternative is a template-variable syntax, and each starts with a literal character, which
# lets the regex engine skip ahead fast. JSON never matches: its keys are quoted, and "{" followed
# by a quote is not an identifier. Markdown links are excluded by "not followed by (". Nothing
# matches across "\0", which separates the replies of a batch scanned in one go.
PLACEHOLDER = re.compile(
    r"\{\{\s*[#/^&>!]?\s*[A-Za-z_][^{}\n\0]{0,60}\}\}"  # {{first_name}}, {{ agent.signature }}
    r"|\{%\s*[A-Za-z_][^{}\n\0]{0,60}%\}"  # {% if plan %}
    r"|\{![A-Za-z_][\w.]{0,60}\}"  # {!Contact.FirstName}
    r"|\{\$[A-Za-z_][\w.]{0,60}\}"  # {$name}
    rf"|\$\{{{_IDENT}\}}"  # ${name}
    # $FIRST_NAME, $REFUND_AMOUNT: named by what goes in it (not $HOME, $AWS_REGION, $API_KEY)
    r"|\$(?:[A-Z][A-Z0-9]*_)+(?:NAME|FIRSTNAME|LASTNAME|AMOUNT|DATE|EMAIL|PLAN|NUMBER|PHONE|ADDRESS|COMPANY)\b"
    rf"|#\{{{_IDENT}\}}"  # #{name}
    # {first_name}, but not a URL template /notes/{id}
    rf"|\{{(?<![\w{{$/!#]\{{){_IDENT}\}}(?!\}})"
    rf"|<<\s*{_IDENT}\s*>>"  # <<REFUND_AMOUNT>>
    r"|<(?i:insert|enter|add)[ \t][^>\n\0]{1,40}>"  # <insert status page link>
    r"|\{\d\}"  # {0}: a positional format slot ("your booking reference is {0}")
    r"|%[sd]\b(?<![\w%]%[sd])"  # %s, %d: printf's ("Hey %s,"), not "100%s"
    r"|%\([A-Za-z_][\w.]{0,60}\)[sd]"  # %(refund_amount)s: Python's named format slot
    # 〇〇様: a Japanese (or Korean) name to fill in; each mark a literal of its own, which keeps the
    # engine's fast skip to the characters alternatives start with
    r"|〇〇〇?(?=[ \t]?(?:様|さま|さん|님))|○○○?(?=[ \t]?(?:様|さま|さん|님))"
    r"|XXX?(?=[ \t]?(?:先生|女士|小姐|様|さん|님))|OOO?(?=[ \t]?(?:고객)?님)"  # 尊敬的XX先生, OOO 고객님
    r"|\$X{2,3}\b"  # $XX: an amount to fill in
    # $first_name: lower case, named by what goes in it (not $HOME, $PATH, $user)
    r"|\$[a-z]+_(?:[a-z]+_)*(?:name|amount|date|email|plan|number|phone|address|company)\b"
    # <CONFIRMATION_NUMBER>, <AMOUNT>; not an HTML tag (lower case, no "_")
    r"|<(?:[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+|[A-Z]*(?:NAME|EMAIL|DATE|PLAN|AMOUNT|NUMBER|PHONE|ADDRESS|COMPANY|LINK))>"
    r"|<%=?\s*[A-Za-z_@][^%\n\0]{0,60}%>"  # <%= first_name %>
    r"|\*\|[A-Za-z_][\w:\-]{0,60}\|\*"  # *|FNAME|*
    r"|\[\[\s*[A-Za-z_][\w.\- ]{0,40}?\s*\]\]"  # [[first_name]]
    # [FIRST_NAME], [FNAME]; not a word in capitals that names no slot ([REDACTED], [WARN], [WOLF])
    r"|\[(?:[A-Z][A-Z0-9]*(?:[_.][A-Z0-9]+)+|[A-ZÀ-ÖØ-ÞĀ-ž][A-Z0-9À-ÖØ-ÞĀ-ž]*(?:_[A-Z0-9À-ÖØ-ÞĀ-ž]+)+|[A-Z]*(?:NAME|EMAIL|DATE|PLAN|AMOUNT|NUMBER|PHONE|ADDRESS|COMPANY"
    r"|LINK|URL)"
    # [TODO: add the Android steps], [TBD]: a writer's note to finish the text
    r"|(?:TODO|TBD|TBC|FIXME)(?:[: \t][^\]\n\0]{0,60})?"
    r"|(?i:link|url)[ \t]+(?:to|for)[ \t][^\]\n\0]{1,40}"  # [link to KB article]
    r"|[a-z]+(?:[_.][a-z0-9]+)+"
    # [Customer Name], [INSERT ORDER NUMBER], [first name]: a slot named by what goes in it
    r"|(?:[A-Z][a-z]+ ){0,3}(?:Name|Date|Amount|Number|Email|Plan|Link|Company|Address|Phone|ID|Time)"
    r"|(?:Insert|INSERT|insert|Enter|ENTER|Add|ADD)[ \t][^\]\n\0]{1,40}"  # [Insert tracking number here]
    r"|(?:[A-Z]+ ){1,3}(?:NAME|DATE|AMOUNT|NUMBER|EMAIL|PLAN|LINK|COMPANY|ADDRESS|PHONE|ID|TIME)"
    r"|(?:[a-z]+ ){0,3}(?:name|date|amount|number|email|plan|link|company|address|phone|time)"
    # [discount code], [order #], [Account Manager]: nouns that name a slot only after another word
    r"|(?:[A-Za-z]+ ){1,3}(?:code|Code|CODE|#|manager|Manager|MANAGER)"
    r"|XX?X?"  # [X] GB, [XX] days: a number to fill in (a box ticked at a line's start is told apart)
    # the same in other languages: [VALOR], [fecha de entrega], [Prénom], [Betrag]
    r"|(?i:nombre|fecha|importe|monto|valor|n[úu]mero|nome|montant|pr[ée]nom|betrag|datum|bedrag|naam|importo"
    r"|cognome|enlace|nama|nomor|tanggal|jumlah|numer|kwota|imi[eę]|اسم|رقم|رابط|تاريخ|مبلغ)"
    r"(?:[ \t][^\]\n\0]{1,30})?)"
    r"\](?![(\[])"
    r"|%%[A-Za-z_][\w.\-]{0,60}%%"  # %%TRACKING_NUMBER%%
    # %PLAN%, but not "50%" nor a Windows path like %APPDATA%\Nimbus
    r"|%(?<![\w%]%)[A-Za-z_][\w.\-]{0,60}[A-Za-z0-9_]%(?![\w%\\/])"
)
# A slot in capitals with no brackets, named as one: INSERT_TICKET_LINK_HERE, INSERT_NAME,
# __CUSTOMER_NAME__. Its own regex, run only on a batch holding one of _BARE_HINTS: a capital letter
# or "_" first would slow PLACEHOLDER's scan of every reply.
_BARE_SLOT = re.compile(r"\bINSERT_[A-Z0-9_]*[A-Z0-9]\b|\b[A-Z][A-Z0-9_]*_HERE\b|\b__[A-Z][A-Z0-9_]*__\b")
_BARE_HINTS = ("_HERE", "INSERT_", "__")
# Where a value goes, a slot in capitals: a Markdown link's address ("[Reset your password](RESET_URL)"),
# and after "number/code/link… is" one named by what goes in it ("your tracking number is
# TRACKING_NUMBER"; not "the column name is CUSTOMER_ID"). Found by the literal before it ("](",
# "is "), which keeps the scan fast, then matched from where the slot starts.
_LINKED = re.compile(r"\]\((?=[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+\))")
_CAPS_SLOT = re.compile(r"[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+")
_VALUE_SLOT = re.compile(
    r"[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)*_(?:NUMBER|ID|NAME|DATE|AMOUNT|CODE|URL|LINK|REF|REFERENCE)\b"
)
_IS_VALUE = re.compile(r"is (?=[A-Z][A-Z0-9_]*_[A-Z])")
_VALUE_OF = re.compile(r"\b(?:number|code|reference|link|id|date|amount|total|url|balance)[ \t]+is $", re.I)
_CHECKBOX = re.compile(r"[ \t]*(?:[-*+•][ \t]*|\d+[.)][ \t]*)?$")
# Code and URLs may legitimately contain braces and percent signs: placeholders there don't count.
# Code (fenced, inline, or a line indented four spaces or a tab) and URLs.
_NOT_PROSE = re.compile(
    r"```.*?(?:```|\Z)|`[^`\n]+`|\b[A-Za-z][A-Za-z0-9+.\-]*://[^\s<>()\[\]]+|^(?: {4}|\t)[^\n]*",
    re.DOTALL | re.MULTILINE,
)
# Where a quoted earlier message starts: what follows was written before, by someone else.
_QUOTED_REPLY = re.compile(
    r"^(?:On .{0,200} wrote:|-{3,} ?Original Message ?-{3,}|From: .+\n(?:Sent|Date): .+)$", re.MULTILINE
)
# A line that hands the customer a text of their own to fill in ("Here's a notice you can send to
# your customers:", "A template for your newsletter:"): what follows is theirs, slots included.
_COLON_LINE = re.compile(r"^[^\n:]*:[ \t]*$", re.MULTILINE)  # no backtracking: one colon, at the end
_OFFER = re.compile(
    r"\b(?:you|they)[ \t]+(?:can|could|may|might)[ \t]+(?:\w+[ \t]+)?(?:send|use|copy|paste|adapt|forward"
    r"|share|customi[sz]e|edit|tweak|reuse|post)\b",
    re.IGNORECASE,
)
_OFFERED_TEXT = re.compile(
    r"\b(?:message|notice|text|e-?mail|template|reply|wording|announcement|note|post|letter|version|draft)s?\b",
    re.IGNORECASE,
)
_TEMPLATE = re.compile(r"\btemplates?\b", re.IGNORECASE)
_QUOTES = "\"'“”‘’«»`"
# Words that show a tag is being talked about, not used: "the {{first_name}} merge tag".
_META = re.compile(
    r"\b(?:merge[ \t-]*(?:tags?|fields?|variables?)|placeholders?|variables?|liquid|handlebars|shortcodes?"
    r"|personali[sz]ation[ \t]+(?:tags?|tokens?|fields?)|subject[ \t]+line|(?:the|this|that|same)[ \t]+format"
    r"|template[ \t]+(?:tags?|syntax|variables?|language|editor)"
    r"|(?:in|into)[ \t]+(?:the|your|a)[ \t]+(?:\w+[ \t]+)?template"
    r"|syntax|snippets?|tokens?|macros?|dynamic[ \t]+(?:content|fields?)"
    r"|components?|bindings?|interpolat\w*|directives?|render(?:s|ed|ing)?"
    r"|s?printf|format[ \t]+(?:strings?|specifiers?)"
    r"|etiquetas?|variáve(?:l|is)|balises?|platzhalter|marcador(?:es)?|segnaposto|plantillas?|modèles?|vorlagen?)\b",
    re.IGNORECASE,
)
_WRITE_BEFORE = re.compile(
    r"\b(?:type|typing|insert|inserting|paste|pasting|write|writing|says|said|shows|showed|reads|displays"
    r"|replace|replacing|substitute|swap"
    r"|replace[ \t]+\w+[ \t]+with|e\.g\.|eg|like|such[ \t]+as|for[ \t]+example"
    r"|escribe|escriba|inserta|inserte|écrivez|écris|tapez|insérez|saisissez|schreib|schreiben|gib"
    r"|geben[ \t]+sie|digite|escreva|insira|scrivi|inserisci|como|comme|wie)[ \t:,]*$",
    re.IGNORECASE,
)
_TAG_AFTER = re.compile(
    r"^[ \t]*(?:merge[ \t-]*)?(?:tags?|fields?|variables?|placeholders?|tokens?|shortcodes?|snippets?)\b",
    re.IGNORECASE,
)
# Interface words around a bracketed label: "press [Save]", "the [Display Name] field".
_UI_BEFORE = re.compile(
    r"\b(?:press|pressing|hit|hitting|click|clicking|tap|tapping|select|choose|open|toggle|check|uncheck"
    r"|tick|untick|enable|disable|find|locate|under|labell?ed|called|named|go[ \t]+to|navigate[ \t]+to"
    r"|head[ \t]+to|in[ \t]+the|on[ \t]+the|from[ \t]+the)[ \t]*$",
    re.IGNORECASE,
)
_UI_AFTER = re.compile(
    r"^[ \t]*(?:fields?|buttons?|keys?|tabs?|menus?|boxe?s?|options?|settings?|sections?|pages?|columns?"
    r"|dropdowns?|drop-downs?|toggles?|checkbox(?:es)?|panels?|screens?|icons?|lists?|cards?|views?|panes?"
    r"|links?|dialogs?|windows?|switch(?:es)?)\b|^[ \t]*(?:>|→|»|\+|/)",
    re.IGNORECASE,
)
# A command line: a shell command first (after a prompt), an assignment, PowerShell's $env:.
_SHELL = re.compile(
    r"^[ \t]*(?:[$#>][ \t]*|[A-Z]:\\[^>\n]*>[ \t]*)?(?:sudo[ \t]+)?(?:export|echo|set|setx|cd|ls|dir|source"
    r"|cat|cp|mv|rm|chmod|chown|mkdir|env|printenv|cmd|powershell|bash|sh|zsh|type|start|call"
    r"|curl|wget|http|git|npm|npx|pip|python|python3|node|docker|kubectl|psql|mysql)[ \t]"
    r"|\$env:|\b[A-Z_]{2,}=",
)
_WORDS = re.compile(r"[a-z][\w]*")
_VARIABLE = re.compile(r"[\w.]+(?:[ \t]+[\w.]+)*")
SENTENCE = 1000  # characters read on either side of a tag for its sentence
MAX_TAGS = 100  # candidates read per reply: past that a reply is a template dump, and each costs a scan
_IDENTIFIERS = re.compile(r"\b(?:[A-Z][A-Z0-9_]{2,}|[A-Za-z]\w*_\w+)\b")
# What joins a bracket to the text after it in a format: a file extension, another bracket, an "@".
_JOINED_AFTER = re.compile(r"\.[A-Za-z0-9]{2,5}\b|[\[@]")
_QUOTED_LINE = re.compile(r"[ \t]*>")
_SENTENCE_STOP = re.compile(r"[.!?](?:\s|$)|\n")


def find(joined: str) -> list[re.Match[str]]:
    """Every candidate placeholder in `joined` (a batch of replies joined by "\\0"), in order."""
    matches = list(PLACEHOLDER.finditer(joined))
    bare: list[re.Match[str]] = []
    if any(hint in joined for hint in _BARE_HINTS):
        bare += _BARE_SLOT.finditer(joined)
    if "](" in joined:
        bare += [_CAPS_SLOT.match(joined, m.end()) for m in _LINKED.finditer(joined)]  # type: ignore[misc]
    if "is " in joined:
        for m in _IS_VALUE.finditer(joined):
            value = _VALUE_SLOT.match(joined, m.end())
            if value is not None and _VALUE_OF.search(joined, max(0, m.start() - 20), m.end()):
                bare.append(value)
    if bare:
        spans = [m.span() for m in matches]  # not [INSERT_NAME_HERE] twice
        matches += [b for b in bare if not any(s <= b.start() < e for s, e in spans)]
        matches.sort(key=lambda m: m.start())
    return matches


def normalize(tag: str) -> str:
    """A placeholder with the spaces inside it removed: "{{ first_name }}" == "{{first_name}}"."""
    return "".join(tag.split())


def leaks(
    text: str,
    matches: list[re.Match[str]],
    offset: int,
    customer_message: str | None = None,
    allow: Collection[str] = (),
) -> list[tuple[str, int, int]]:
    """The distinct matched placeholders that are leaks (`offset`: where `text` starts in the
    string the matches were found in), each with its span in `text`."""
    if not matches:
        return []
    excluded = [s.span() for s in _NOT_PROSE.finditer(text)]
    quoted = _QUOTED_REPLY.search(text)
    if quoted:
        excluded.append((quoted.start(), len(text)))
    offered = _offered(text)
    if offered is not None:
        excluded.append((offered, len(text)))
    asked = normalize(customer_message) if customer_message else ""
    # Identifiers the customer wrote (FNAME, first_name): not ordinary words such as "name".
    asked_words = (
        {w.casefold() for w in _IDENTIFIERS.findall(customer_message)} if customer_message else set()
    )
    found: list[tuple[str, int, int]] = []
    seen: set[str] = set()
    explained: set[str] = set()  # variables the reply shows on purpose: later uses of them are too
    for m in matches[:MAX_TAGS]:
        tag, start = m.group(), m.start() - offset
        end = start + len(tag)
        key = normalize(tag)
        if key in seen or any(a <= start < b for a, b in excluded) or key in allow:
            continue
        line_start = text.rfind("\n", 0, start) + 1
        if _QUOTED_LINE.match(text, line_start):
            continue  # a quoted line: what someone else wrote
        if tag in ("[X]", "[XX]", "[XXX]") and _CHECKBOX.fullmatch(text, line_start, start):
            continue  # "- [X] Export finished": a ticked box
        if asked and key in asked:
            continue
        variable = _variable(tag)
        if variable in explained:
            continue  # "a merge tag like {{first_name}} … a fallback with {{first_name | default}}"
        if _mentioned(text, start, end):
            explained.add(variable)
            continue
        if _system(text, tag, start, end):
            continue
        inner = _WORDS.findall(tag.casefold())
        if inner and len(inner) == 1 and inner[0] in asked_words:
            continue  # the customer named it ("it says FNAME instead of my name")
        seen.add(key)
        found.append((tag, start, end))
    return found


def _variable(tag: str) -> str:
    """What a tag names, less its filters: "{{ first_name | default: 'there' }}" -> first_name."""
    m = _VARIABLE.search(tag.casefold())
    return m.group() if m else tag


def _offered(text: str) -> int | None:
    """Where a text handed to the customer starts: after a line ending in a colon that offers a
    message they may send or use, or a template."""
    for m in _COLON_LINE.finditer(text):
        line = m.group()
        if (_OFFER.search(line) and _OFFERED_TEXT.search(line)) or _TEMPLATE.search(line):
            return m.start()
    return None


def _sentence(text: str, start: int, end: int) -> str:
    """The sentence around text[start:end], read at most SENTENCE characters either side."""
    begin = max(0, start - SENTENCE)
    stops = [m.end() for m in _SENTENCE_STOP.finditer(text, begin, start)]
    first = stops[-1] if stops else begin
    last = _SENTENCE_STOP.search(text, end, end + SENTENCE)
    return text[first : last.start() if last else min(len(text), end + SENTENCE)]


def _mentioned(text: str, start: int, end: int) -> bool:
    """Shown on purpose: quoted, called a tag or variable, or what the customer should type."""
    before, after = text[max(0, start - 40) : start], text[end : end + 40]
    if before[-1:] in _QUOTES and after[:1] in _QUOTES:
        return True
    if _TAG_AFTER.match(after) or _WRITE_BEFORE.search(before):
        return True
    return _META.search(_sentence(text, start, end)) is not None


def _system(text: str, tag: str, start: int, end: int) -> bool:
    """An operating-system variable, a key or an interface label rather than a template slot."""
    inner = tag.strip("{}[]<>%$!#*|").strip().casefold()
    before, after = text[max(0, start - 30) : start], text[end : end + 30]
    if tag[0] in "$%{":
        if tag[0] != "{" and inner in OS_VARIABLES:
            return True
        if tag[0] != "{" and (before[-1:] in "=:/\\" or after[:1] in "/\\"):
            return True  # part of a path or an assignment: PATH=/opt/bin:${PATH}
        line_start = text.rfind("\n", 0, start) + 1
        line_end = text.find("\n", end)
        if _SHELL.search(text[line_start : line_end if line_end >= 0 else len(text)]):
            return True  # on a command line: curl -H "X-Api-Key: {api_key}" …
        if tag[0] != "{":
            return False
    if tag[0] == "[" and (before[-1:].isalnum() or before[-1:] in "-_@/." or _JOINED_AFTER.match(after)):
        return True  # part of a format: nimbus-export-[date].csv, contact[name], INV-[number]
    if tag[0] in "[<" and not tag.startswith(("[[", "<<", "<%")):
        if inner in KEY_NAMES or all(part.strip() in KEY_NAMES for part in inner.split("+")):
            return True
        if inner in SUBJECT_TAGS:
            return True
        if _UI_AFTER.match(after):
            return True
        return _UI_BEFORE.search(before) is not None and not _is_slot_name(inner)
    return False


def _is_slot_name(inner: str) -> bool:
    """ "first_name", "REFUND_AMOUNT": names a template gives its slots, not labels of an interface."""
    return "_" in inner or "." in inner
