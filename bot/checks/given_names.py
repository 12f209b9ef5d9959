"""Lists of given names, read from packages kept by people who collect them: which capitalised
word at a reply's start or end is a name ("Jorge — thanks…") and not a word ("Again — thanks…")."""

from __future__ import annotations

from functools import lru_cache


@lru_cache(maxsize=1)
def nickname_table() -> dict[str, set[str]]:
    """Given name -> its usual nicknames, lower case: the `nicknames` package's hand-curated list,
    read once per process."""
    from nicknames import NickNamer

    return NickNamer().nickname_lookup


# The usual short forms of given names in other languages than English ("Sasha" for Aleksandra,
# "Pepe" for José): no package we found keeps them, so this short list does, each a form that
# people are called by and no name of someone else ("Lena", "Mila" stand for Elena, Lyudmila).
# Lower case, without accents: as `name_tokens` reads names.
WORLD_NICKNAMES = {
    # Russian and Ukrainian
    "aleksandr alexander aleksandra alexandra oleksandr oleksandra": "sasha sanya shura",
    "mikhail": "misha", "dmitry dmitri dmitriy": "dima", "ekaterina yekaterina kateryna": "katya katia",
    "natalia natalya nataliya": "natasha", "maria mariya": "masha", "tatiana tatyana tetiana": "tanya",
    "elena yelena olena": "lena", "olga": "olya", "svetlana": "sveta", "yuri yury yuriy": "yura",
    "pavel": "pasha", "alexei aleksei alexey oleksiy": "lyosha alyosha", "nikolai nikolay mykola": "kolya",
    "ivan": "vanya", "yevgeny evgeny yevgenia evgenia": "zhenya", "sergei sergey serhiy": "seryozha",
    "vladimir volodymyr": "volodya vova", "anastasia anastasiya": "nastya", "konstantin": "kostya",
    "lyudmila liudmila": "lyuda mila", "viktor": "vitya", "irina iryna": "ira", "daria darya": "dasha",
    "ksenia kseniya": "ksyusha", "anna": "anya", "grigory": "grisha", "yulia yuliya": "yulya",
    # Spanish and Portuguese
    "jose": "pepe chepe ze", "francisco": "paco pancho curro chico", "ignacio": "nacho",
    "manuel": "manolo manu manny", "guadalupe": "lupe", "concepcion": "concha conchi", "dolores": "lola",
    "rosario": "charo", "jesus": "chuy", "enrique": "quique", "guillermo": "memo", "eduardo": "lalo",
    "roberto alberto": "beto", "santiago": "santi", "fernando": "nando", "josefa": "pepa",
    "mercedes": "merche", "antonio": "toni tonho", "joao": "joca",
    # Italian
    "giuseppe": "beppe peppe pino", "giovanni": "gianni", "luigi": "gigi", "alessandro": "sandro",
    "vincenzo": "enzo", "domenico": "mimmo", "salvatore": "toto",
    # German and Dutch
    "johannes": "hannes", "friedrich": "fritz", "katharina": "kathi katja", "joachim": "jochen",
    "elisabeth": "liesl sissi",
    # Polish
    "malgorzata": "gosia malgosia", "katarzyna": "kasia", "wojciech": "wojtek", "krzysztof": "krzysiek",
    "grzegorz": "grzesiek", "joanna": "asia", "tomasz": "tomek", "agnieszka": "aga", "aleksandra": "ola olka",
}  # fmt: skip


@lru_cache(maxsize=1)
def world_nickname_pairs() -> frozenset[tuple[str, str]]:
    """(short form, given name) pairs of WORLD_NICKNAMES."""
    return frozenset(
        (short, name)
        for names, shorts in WORLD_NICKNAMES.items()
        for name in names.split()
        for short in shorts.split()
    )


def known_name(name: str, *, no_word: bool = False) -> bool:
    """A given name one of two lists holds: the `nicknames` package's English names and nicknames,
    or the first names of every locale `Faker` writes (Jorge, Priya, Zoë…) that are no common English
    word of its own word list ("True", "Summer"). `no_word`, where nothing else around the word says
    it is a name: no such word in either list ("Will", "May", "Bill"), and one of Faker's only if two
    of its languages list it. Faker's names are read on first need only (0.6 s)."""
    key = name.casefold()
    if no_word:  # and in two of Faker's languages at least: one lists "Sad", another "Rice"
        return key not in _english_words() and (key in _english_names() or _world_names().get(key, 0) >= 2)
    return key in _english_names() or key in _world_names()


@lru_cache(maxsize=1)
def _english_words() -> frozenset[str]:
    """About 1,000 common English words (Faker's en_US word list), lower case."""
    from faker.providers.lorem.en_US import Provider as English

    return frozenset(w.casefold() for w in English.word_list)


@lru_cache(maxsize=1)
def _english_names() -> frozenset[str]:
    table = nickname_table()
    return frozenset(table).union(*table.values())


@lru_cache(maxsize=1)
def _world_names() -> dict[str, int]:
    """Faker's first names, lower case, less common English words: in how many of its languages
    each is (de_DE, de_AT and de_CH are one language: regional lists repeat each other)."""
    import importlib
    import pkgutil

    import faker.providers.person as person

    by_language: dict[str, set[str]] = {}
    for module in pkgutil.iter_modules(person.__path__):
        provider = getattr(importlib.import_module(f"{person.__name__}.{module.name}"), "Provider", None)
        found = by_language.setdefault(module.name.split("_")[0], set())
        for attr in ("first_names", "first_names_male", "first_names_female", "first_names_nonbinary"):
            names = vars(provider).get(attr) if provider is not None else None
            if isinstance(names, (list, tuple, dict, set, frozenset)):
                found.update(n.casefold() for n in names if isinstance(n, str) and " " not in n)
    languages: dict[str, int] = {}
    for found in by_language.values():
        for name in found - _english_words():
            languages[name] = languages.get(name, 0) + 1
    return languages
