"""Reading what a customer typed: commands in three languages, any case, accents and small typos.

`parse("Sôlde")` and `parse("/balance")` both give `Command("balance")`. A word matches a
keyword exactly, or within one typo (two for long words) when no other command is as close:
"balnce" is BALANCE, but a three-letter word must be exact, so "yes" never becomes "yet".
An answer (YES, NO) is the whole message: "n importe quoi" is no NO. A greeting is a request
for the menu, unless a command follows it ("Bonjour, mon solde").
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

# Twilio's and the carriers' opt-out and opt-in words (any case), which SMS must honour.
SMS_STOP_WORDS = ("stop", "stopall", "unsubscribe", "cancel", "end", "quit")
SMS_START_WORDS = ("start", "unstop")

# Saying hello to the bot is asking what it can do: it answers as to HELP.
GREETINGS = (
    "hello",
    "hi",
    "hey",
    "bonjour",
    "bonsoir",
    "salut",
    "coucou",
    "hallo",
    "servus",
    "moien",  # Luxembourgish
)
# Answers to a question the bot asked; they count only as the whole message.
ANSWERS = ("yes", "no")

KEYWORDS: dict[str, tuple[str, ...]] = {
    "join": ("join", "adherer", "inscription", "beitreten", "anmelden"),
    "balance": (
        "balance",
        "points",
        "solde",
        "punkte",
        "kontostand",
        "punktestand",
        "stand",
        # A stamp card's balance is its stamps.
        "stamps",
        "stamp",
        "tampons",
        "stempel",
    ),
    "card": ("card", "carte", "karte", "qr", "wallet"),
    "rewards": (
        "rewards",
        "reward",
        "catalog",
        "catalogue",
        "cadeaux",
        "recompenses",
        "praemien",
        "pramien",
        "belohnungen",
    ),
    "redeem": ("redeem", "echanger", "einloesen", "einlosen"),
    "vouchers": ("vouchers", "voucher", "bons", "gutscheine", "gutschein"),
    "history": ("history", "historique", "verlauf", "movements"),
    "promotions": ("promotions", "promos", "promo", "offers", "offres", "aktionen", "angebote"),
    "shops": (
        "shops",
        "shop",
        "stores",
        "magasins",
        "boutiques",
        "filialen",
        "geschaefte",
        "geschafte",
    ),
    "language": ("language", "langue", "sprache", "lang"),
    "help": ("help", "info", "aide", "hilfe", "menu", "?", *GREETINGS),
    "stop": ("stopall", "unsubscribe", "end", "quit", "stop", "arret", "arreter", "desabonner"),
    "start": ("start", "unstop"),
    "delete": ("delete", "erase", "gdpr", "supprimer", "effacer", "loeschen", "loschen"),
    "cancel": ("cancel", "annuler", "abbrechen"),
    "yes": ("yes", "y", "ok", "oui", "o", "ja", "j", "si", "confirm", "confirmer", "bestaetigen"),
    "no": ("no", "n", "non", "nein", "nope"),
}
LANGUAGE_WORDS = {
    "en": ("en", "english", "anglais", "englisch"),
    "fr": ("fr", "french", "francais", "franzoesisch", "franzosisch"),
    "de": ("de", "german", "allemand", "deutsch"),
}

_WORD = re.compile(r"[a-z0-9@+._?-]+")


@dataclass(frozen=True)
class Command:
    name: str  # a key of KEYWORDS, or "" when nothing matched
    argument: str = ""  # the rest of the message, as typed (case kept: e-mails, codes)


def fold(raw: str) -> str:
    """Lower case without accents: 'Échanger' -> 'echanger', 'Löschen' -> 'loschen'."""
    decomposed = unicodedata.normalize("NFKD", raw or "")
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


def _distance(a: str, b: str, limit: int) -> int:
    """Damerau-Levenshtein (adjacent swaps count once), giving up early above `limit`."""
    if abs(len(a) - len(b)) > limit:
        return limit + 1
    previous2: list[int] = []
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i] + [0] * len(b)
        for j, cb in enumerate(b, 1):
            cost = 0 if ca == cb else 1
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
            if i > 1 and j > 1 and ca == b[j - 2] and a[i - 2] == cb:
                current[j] = min(current[j], previous2[j - 2] + 1)
        if min(current) > limit:
            return limit + 1
        previous2, previous = previous, current
    return previous[-1]


def _allowed_typos(word: str) -> int:
    if len(word) <= 3:
        return 0
    return 1 if len(word) <= 7 else 2


def match_word(word: str, vocabulary: dict[str, tuple[str, ...]]) -> str:
    """The name whose keyword `word` is (or nearly is); "" when none or two are equally close."""
    word = fold(word).strip("/!.,;:")
    if not word:
        return ""
    for name, words in vocabulary.items():
        if word in words:
            return name
    limit = _allowed_typos(word)
    if limit == 0:
        return ""
    best: dict[str, int] = {}
    for name, words in vocabulary.items():
        for keyword in words:
            if len(keyword) <= 3:
                continue  # "ok" is not a typo of "oki"
            distance = _distance(word, keyword, limit)
            if distance <= limit:
                best[name] = min(best.get(name, distance), distance)
    if not best:
        return ""
    closest = min(best.values())
    names = [name for name, distance in best.items() if distance == closest]
    return names[0] if len(names) == 1 else ""


def parse(raw: str) -> Command:
    """The command a message starts with, and the rest of it."""
    stripped = (raw or "").strip()
    if not stripped:
        return Command("")
    first, _, rest = stripped.partition(" ")
    first = first.lstrip("/").split("@", 1)[0]  # "/balance@LoyaltyBot" in groups
    name = match_word(first, KEYWORDS)
    rest = rest.strip()
    if name in ANSWERS and rest:
        name = ""
    if name == "help" and rest and fold(first).strip("!.,;:") in GREETINGS:
        following = parse(rest)
        if following.name:
            return following
    if not name and " " in stripped:
        # "my card", "mon solde", "delete my data": look at each word.
        words = [w for w in _WORD.findall(fold(stripped)) if len(w) > 3 and w not in GREETINGS]
        names = {match_word(w, KEYWORDS) for w in words} - {"", *ANSWERS}
        if len(names) == 1:
            return Command(names.pop(), "")
    return Command(name, rest) if name else Command("", stripped)


def language_of(raw: str) -> str:
    """'fr', 'Français', 'deutsch' -> a language code; "" when it is none of ours."""
    for word in _WORD.findall(fold(raw)):
        code = match_word(word, {k: v for k, v in LANGUAGE_WORDS.items()})
        if code:
            return code
    return ""


def is_sms_stop(raw: str) -> bool:
    return fold(raw).strip().strip(".!") in SMS_STOP_WORDS


def is_sms_start(raw: str) -> bool:
    return fold(raw).strip().strip(".!") in SMS_START_WORDS
