"""What the buyer's own words ask for: a person, or a payment dispute (a chargeback, the bank,
a PayPal dispute). Either way a person decides the case, not the automatic review.

The words live with the other per-language data, one file per language beside its catalogue:
``locales/<lang>/escalation.toml``, with three lists of phrases:

- ``person``: asks for a person ("agent", "позовите оператора", "人工");
- ``dispute``: a payment dispute ("chargeback", "я пожалуюсь в банк", "über meine Bank");
- ``ignore``: phrases that never count, taken out of the message before the two lists are
  tried ("power bank", "bank account", "银行卡").

A phrase's words must appear one after another, each a whole word (punctuation between them
does not matter). ``{a,b,c}`` means one of a, b or c, with an empty choice allowed:
``оператор{,а,у,ом}`` is оператор, оператора, оператору, оператором; ``{,ال,لل}بنك`` is بنك,
البنك, للبنك. A trailing ``*`` means any ending, for stems that cannot be anything else
(``chargeback*``). Case, accents and other marks are ignored on both sides, so "operateur"
is "opérateur", "моем" is "моём" and an Arabic word with or without its vowel marks is the
same word. An e-mail address or a dotted name in the message is not words at all:
``support.agent@example.com`` typed as the order check asks for nobody.

A file with ``match = "text"`` (Chinese: no spaces between words) finds its phrases anywhere
in the message, spaces and punctuation left out.

Every language's lists are tried for every message: a buyer may write in another language
than the interface's, and the lists are phrases chosen not to mean something else in another
language. ``languages=`` narrows the check (the tests use it to check each file on its own).
"""

from __future__ import annotations

import re
import tomllib
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from importlib import resources

FILE_NAME = "escalation.toml"
MAX_REQUEST_WORDS = 5  # longer messages that mention a person are someone's story
_KEYS = frozenset({"match", "person", "dispute", "ignore"})
_WORD = re.compile(r"\w+")
_ALTERNATIVES = re.compile(r"\{([^{}]*)\}")
_GAP = "~"  # stands for an ignored phrase: no pattern matches it, so nothing spans it
# An e-mail address ("support.agent@example.com", "mensch@firma.de") or a name joined by dots
# (a domain, "support.agent") is one token, not words: "agent" inside it asks for nobody.
_NOT_WORDS = re.compile(r"[^\s@<>()\[\],;:\"']+@[^\s@<>()\[\],;:\"']+|\w+(?:\.\w+)+")


class EscalationWordsError(ValueError):
    """A word file that cannot be read: the bot must not start with it."""


def normalize(text: str) -> str:
    """Casefolded, without accents or vowel marks (é → e, ё → е, أ → ا), tatweel removed."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    kept = "".join(c for c in decomposed if not unicodedata.combining(c) and c != "\u0640")
    return unicodedata.normalize("NFC", kept)


@dataclass(frozen=True)
class Words:
    """One language's lists, compiled."""

    language: str
    person: re.Pattern[str] | None
    dispute: re.Pattern[str] | None
    ignore: re.Pattern[str] | None
    by_word: bool  # False: phrases are found anywhere in the text (Chinese)

    def prepare(self, words: list[str]) -> str:
        """The message's normalised words as this language's patterns read them."""
        prepared = f" {' '.join(words)} " if self.by_word else "".join(words)
        if self.ignore is not None:
            prepared = self.ignore.sub(f" {_GAP} " if self.by_word else _GAP, prepared)
        return prepared


def variants(phrase: str) -> list[str]:
    """Every spelling a phrase stands for, normalised, its words separated by one space:
    ``"{,мой} банк{,а}"`` → банк, банка, мои банк, мои банка (й → и: marks are dropped)."""
    outside = _ALTERNATIVES.sub("", phrase)
    if "{" in outside or "}" in outside:
        raise ValueError(f"unbalanced or nested braces in {phrase!r}")
    spellings = [""]
    position = 0
    for group in _ALTERNATIVES.finditer(phrase):
        before = phrase[position : group.start()]
        choices = group.group(1).split(",")
        spellings = [s + before + choice for s in spellings for choice in choices]
        position = group.end()
    spellings = [s + phrase[position:] for s in spellings]
    found: dict[str, None] = {}
    for spelling in spellings:
        words = [w for w in re.split(r"[^\w*]+", normalize(spelling)) if w]
        if not words:
            raise ValueError(f"a spelling with no word in {phrase!r}")
        if any("*" in w.removesuffix("*") or w == "*" for w in words):
            raise ValueError(f"'*' only ends a word, after its stem: {phrase!r}")
        found[" ".join(words)] = None
    return list(found)


def _pattern(spelling: str, by_word: bool) -> str:
    """The words one after another (``_compile`` makes them whole words); or, for ``match =
    "text"``, anywhere in the text."""
    words = spelling.split()
    if not by_word and any(w.endswith("*") for w in words):
        raise ValueError(f"'*' needs whole words (match = 'words'): {spelling!r}")
    parts = [re.escape(w.removesuffix("*")) + (r"\w*" if w.endswith("*") else "") for w in words]
    return " ".join(parts) if by_word else "".join(parts)


def _compile(phrases: list[str], by_word: bool, where: str) -> re.Pattern[str] | None:
    if not isinstance(phrases, list) or not all(isinstance(p, str) for p in phrases):
        raise EscalationWordsError(f"{where}: expected a list of strings")
    if not phrases:
        return None
    try:
        spellings = {s: None for p in phrases for s in variants(p)}
        ordered = sorted(spellings, key=len, reverse=True)  # the longest ignored phrase first
        either = "|".join(_pattern(s, by_word) for s in ordered)
        # One check of the word's start for all the phrases, not one per phrase: with hundreds
        # of phrases, a lookbehind in each made a message's check cost milliseconds.
        return re.compile(f"(?<= )(?:{either})(?= )" if by_word else either)
    except (ValueError, re.error) as exc:
        raise EscalationWordsError(f"{where}: {exc}") from exc


def _parse(language: str, text: str) -> Words:
    where = f"locales/{language}/{FILE_NAME}"
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise EscalationWordsError(f"{where}: {exc}") from exc
    if unknown := set(raw) - _KEYS:
        raise EscalationWordsError(f"{where}: unknown keys {sorted(unknown)}")
    match = raw.get("match", "words")
    if match not in ("words", "text"):
        raise EscalationWordsError(f"{where}: match is 'words' or 'text', not {match!r}")
    by_word = match == "words"
    return Words(
        language=language,
        person=_compile(raw.get("person", []), by_word, f"{where} person"),
        dispute=_compile(raw.get("dispute", []), by_word, f"{where} dispute"),
        ignore=_compile(raw.get("ignore", []), by_word, f"{where} ignore"),
        by_word=by_word,
    )


@cache
def word_lists() -> dict[str, Words]:
    """Every language that has a word file, by language code."""
    root = resources.files("locales")
    found: dict[str, Words] = {}
    for folder in sorted(root.iterdir(), key=lambda f: f.name):
        file = folder / FILE_NAME
        if folder.is_dir() and file.is_file():
            found[folder.name] = _parse(folder.name, file.read_text(encoding="utf-8"))
    return found


def _found(text: str | None, kind: str, languages: Iterable[str] | None) -> bool:
    if not text:
        return False
    lists = word_lists()
    words = _WORD.findall(normalize(_NOT_WORDS.sub(" ", text)))
    chosen = lists.values() if languages is None else [lists[code] for code in languages]
    for language in chosen:
        pattern: re.Pattern[str] | None = getattr(language, kind)
        if pattern is not None and pattern.search(language.prepare(words)):
            return True
    return False


def mentions_person(text: str | None, languages: Iterable[str] | None = None) -> bool:
    """The words ask for a person, however long the message."""
    return _found(text, "person", languages)


def asks_for_person(text: str | None, languages: Iterable[str] | None = None) -> bool:
    """A short message that asks for a person ("agent", "позовите оператора", "人工"); a long
    message that merely mentions one is someone's story, not a request."""
    if not text or len(text.split()) > MAX_REQUEST_WORDS:
        return False
    return mentions_person(text, languages)


def mentions_payment_dispute(text: str | None, languages: Iterable[str] | None = None) -> bool:
    """The words threaten or report a payment dispute: a chargeback, the buyer's bank, a
    PayPal dispute ("я пожалуюсь в банк", "über meine Bank zurückbuchen", "拒付")."""
    return _found(text, "dispute", languages)
