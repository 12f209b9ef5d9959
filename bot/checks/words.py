"""Word lists the checks read text with: words that are not names, keys, OS variables, closings.

Each list is a class of English (or operating-system) vocabulary, not a list of examples: a word is
here because of what it is (a weekday, a sentence adverb, a keyboard key), so that the rules in
names.py, placeholders.py and plans.py can stay general.
"""

from __future__ import annotations


def words(text: str) -> frozenset[str]:
    """A set of the space-separated words of `text`."""
    return frozenset(text.split())


# Addressed to nobody in particular ("Hi there", "Hello all", "Dear Support Team").
GROUP_WORDS = words(
    "there all everyone everybody team folks friend friends customer customers again sir madam "
    "user users valued guys you both and welcome crew people gang support colleagues member members "
    "client clients partner partners y'all yall world fam community family household"
)

# Honorifics written after a name ("Tanaka-san", "Anil Ji"): not part of the name.
HONORIFICS = words("san sama kun chan sensei ji jee sahib saheb bey hanim hanım")

# Calendar and holiday words: "Happy Friday", "Merry Christmas", "Good morning, December!".
CALENDAR = words(
    "monday tuesday wednesday thursday friday saturday sunday weekend week today tomorrow tonight "
    "january february march april may june july august september october november december "
    "christmas xmas easter thanksgiving halloween diwali eid hanukkah ramadan new year years holiday "
    "holidays season seasons valentine valentines mothers fathers"
)

# Words that open a sentence or an exclamation and are not names, in any capitalisation:
# "Hi, Thanks for…", "Hello, Sorry…", "Unfortunately, …", "Great news!".
NOT_NAMES = words(
    "thanks thank thx ty sorry apologies apology happy merry welcome great good glad nice lovely "
    "wonderful awesome amazing perfect excellent fantastic brilliant cool sweet super hope hoping "
    "please pls just quick sure yes yeah yep no nope ok okay alright right noted understood done "
    "absolutely certainly definitely indeed of course congrats congratulations cheers best kind warm "
    "regards sincerely hi hello hey hiya dear greetings morning afternoon evening night day ma'am maam "
    "update updates news note important urgent reminder attention fyi ps re fw fwd psst oh ah wow "
    "hmm um uh well so now then also again however therefore meanwhile otherwise first second third "
    "next finally lastly still yet though although unless since because if when once while whilst "
    "after before until as and but or nor for with without about regarding per via thankfully "
    "sadly luckily fortunately unfortunately hopefully honestly basically actually apparently "
    "currently recently previously presently usually normally typically generally ideally "
    "additionally alternatively instead anyway anyhow besides plus further furthermore moreover "
    "here there this that these those it its we our us they them their i i'm i've i'll you your "
    "he she his her my me what which who whom whose why how where order account ticket invoice "
    "refund payment plan subscription support team service services customer care help desk "
    "helpdesk billing sales admin administrator agent bot assistant manager owner member guest "
    "visitor user client anonymous unknown none null test demo inc ltd llc gmbh corp co company "
    "group official app web site website online store shop mobile email mail phone sms chat live "
    "message messages dm pm reply response question questions issue issues problem problems fix "
    "bug error sign signed sent step steps tip tips faq "
    # what a customer is called in place of a name ("Cheers, mate!", "Greetings, Commander!")
    "mate buddy pal dude bro legend champ champion hero superstar rockstar boss chief captain "
    "commander sunshine darling hun hon love honey sweetie"
)

# Sentence-initial words that end in "-ly" are adverbs ("Unfortunately,"), not names, except these.
LY_NAMES = words("emily kelly holly sally molly lily polly ally shelly beverly kimberly")

# Honorifics before a surname (a full stop after each may follow; "m." for Monsieur only with its).
TITLES = words(
    "mr mrs ms mx miss dr doctor prof professor sir madam mme mlle herr frau sr sra srta "
    "monsieur madame mademoiselle señor señora señorita senhor senhora signor signore signora sig "
    "sig.ra sig.a dott meneer mevrouw dhr mevr m. السيد السيدة الأستاذ الأستاذة"
)

# Name particles written in lower case inside a name ("Ana de la Cruz", "Ludwig van Beethoven").
PARTICLES = words("de da del della di du la le van von der den ter ten bin bint al el y e dos das")

# What a record's customer name is when it is not a person: a company, a role, a placeholder.
ORGANISATION_WORDS = words(
    "inc inc. ltd ltd. llc l.l.c. plc gmbh ag sa sas sarl bv nv oy ab as aps kg corp corp. "
    "corporation co co. company companies group holdings holding technologies technology tech "
    "solutions services systems labs lab studio studios agency partners consulting software media "
    "bank university college school academy foundation association institute hotel restaurant cafe "
    "store shop team support dept department international enterprises industries ventures capital "
    "clinic hospital pharmacy council ministry office club church society llp pty gbr ug e.v."
)
PLACEHOLDER_NAMES = words(
    "visitor guest customer user anonymous unknown client member subscriber lead contact "
    "n/a na none null undefined test someone"
)

# Keyboard keys: "[ENTER]", "<Esc>", "[Ctrl]+[C]" name a key, not a template slot.
KEY_NAMES = words(
    "enter return esc escape tab shift ctrl control alt altgr option opt cmd command win windows "
    "super meta fn del delete backspace space spacebar home end pgup pgdn pageup pagedown insert ins "
    "up down left right capslock caps printscreen prtsc prtscn break pause menu "
    "f1 f2 f3 f4 f5 f6 f7 f8 f9 f10 f11 f12"
)

# Status and subject-line tags: "[UPDATE] We've fixed it", "[SOLVED]", "Status: [RESOLVED]" label a
# message or thread; they are not template slots, which name what goes in them ([FNAME], [PLAN]).
SUBJECT_TAGS = words(
    "update updated updates edit edited solved resolved fixed closed open reopened pending done "
    "answered urgent important note notice info warning alert reminder announcement news new fyi "
    "draft final spam bump sticky pinned duplicate dupe outage maintenance incident"
)

# Variables every shell or Windows session has: "%TEMP%", "${HOME}" are paths, not template slots.
OS_VARIABLES = words(
    "path home user username userprofile temp tmp tmpdir appdata localappdata programdata "
    "programfiles programfiles(x86) systemroot systemdrive windir comspec homepath homedrive "
    "computername userdomain pwd oldpwd shell term lang lc_all display editor visual pager hostname "
    "logname mail java_home pythonpath ld_library_path library_path cdpath xdg_config_home "
    "xdg_data_home xdg_cache_home xdg_runtime_dir pathext processor_architecture os public "
    "allusersprofile commonprogramfiles random date time errorlevel cd onedrive onedriveconsumer "
    "onedrivecommercial psmodulepath sessionname"
)

# How a customer closes a message before signing it ("Thanks,\nBob", "Cheers — Bob").
CLOSINGS = (
    "thanks",
    "thank you",
    "many thanks",
    "thanks again",
    "thx",
    "cheers",
    "best",
    "best regards",
    "kind regards",
    "regards",
    "warm regards",
    "sincerely",
    "yours",
    "yours truly",
    "all the best",
    "br",
    "rgds",
    "love",
    "talk soon",
)
