"""Languages: catalogues, the choice of language for a user, and a translator that formats
money, dates and numbers for the locale and escapes every value for Telegram's HTML.

Catalogues are the ``.po`` files in ``locales/``, compiled in memory at start with Babel, so
there is no separate compile step to forget. English msgids are the source text.
"""

from __future__ import annotations

import gettext
import html
import io
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from babel import Locale
from babel.dates import format_date, format_datetime
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_currency, format_decimal, format_percent

import locales
from core.money import Money

LOCALES_DIR = Path(locales.__file__).resolve().parent
DEFAULT = "en"
# Catalogues still being written (issue 14). Their code is ready everywhere (names, Telegram
# tags, plural rules, formats); they join SUPPORTED when this is True and every one of them
# has its locales/<code>/LC_MESSAGES/messages.po (tests/telegram/test_catalogues.py then
# checks them like the others). Until then "it" reads English and "zh-tw" Simplified Chinese.
NEW_LANGUAGES: tuple[str, ...] = ("it", "nl", "pl", "zh_Hant")
NEW_LANGUAGES_ON = True
# Every language the code knows, in the order the language menu shows them.
ALL_LANGUAGES: tuple[str, ...] = (
    "en",
    "zh",
    "zh_Hant",
    "ru",
    "es",
    "pt",
    "fr",
    "it",
    "de",
    "nl",
    "pl",
    "ar",
)
SUPPORTED: tuple[str, ...] = tuple(
    code for code in ALL_LANGUAGES if NEW_LANGUAGES_ON or code not in NEW_LANGUAGES
)
NATIVE_NAMES = {
    "en": "English",
    "zh": "简体中文" if "zh_Hant" in SUPPORTED else "中文",
    "zh_Hant": "繁體中文",
    "ru": "Русский",
    "es": "Español",
    "pt": "Português",
    "fr": "Français",
    "it": "Italiano",
    "de": "Deutsch",
    "nl": "Nederlands",
    "pl": "Polski",
    "ar": "العربية",
}
RTL = frozenset({"ar"})
# How a list of names is joined for a reader: Chinese uses the enumeration comma (、),
# Arabic its own comma (،); the others a comma.
LIST_SEPARATORS = {"zh": "、", "zh_Hant": "、", "ar": "، "}
# Telegram's language_code for Chinese: the script, or a region that writes Traditional.
_TRADITIONAL = frozenset({"hant", "tw", "hk", "mo"})
# Bidi isolates (FSI … PDI): a value inside right-to-left text keeps its own direction, so a
# case number, an amount or a tracking number reads as written.
FSI, PDI = "\u2068", "\u2069"


def _candidates(tag: str) -> tuple[str, ...]:
    """The catalogues a language tag asks for, the best first."""
    parts = tag.replace("_", "-").strip().lower().split("-")
    base = parts[0]
    if base == "zh":
        subtags = set(parts[1:])
        if "hans" not in subtags and subtags & _TRADITIONAL:
            return ("zh_Hant", "zh")  # zh-hant, zh-tw, zh-hk, zh-mo
        return ("zh",)  # zh, zh-hans, zh-cn, zh-sg
    return (base,)


def resolve_language(*tags: str | None) -> str:
    """The first supported language among these tags ('pt-br' → pt, 'zh-hans' → zh,
    'zh-tw' → zh_Hant, 'es_MX' → es); English when none is supported."""
    for tag in tags:
        if not tag:
            continue
        for code in _candidates(tag):
            if code in SUPPORTED:
                return code
    return DEFAULT


def telegram_code(language: str) -> str | None:
    """The two-letter code Telegram's setMyCommands takes for a catalogue, or None when the
    catalogue shares it with another (zh_Hant: Telegram has no separate Traditional code)."""
    return language if len(language) == 2 else None


class Html(str):
    """A value that is already safe HTML: the translator does not escape it again."""

    __slots__ = ()


def escape(text: object) -> str:
    return html.escape(str(text), quote=False)


@dataclass(frozen=True)
class Translator:
    """Texts in one language. ``tr("Hello, {name}!", name=user_text)`` escapes the value."""

    language: str
    _catalog: gettext.NullTranslations

    @property
    def locale(self) -> Locale:
        return Locale.parse(self.language)

    def __call__(self, message: str, /, **values: Any) -> str:
        return self._format(self._catalog.gettext(message), values)

    def plural(self, singular: str, plural: str, n: int, /, **values: Any) -> str:
        values.setdefault("n", n)
        return self._format(self._catalog.ngettext(singular, plural, n), values)

    def _format(self, text: str, values: dict[str, Any]) -> str:
        if not values:
            return text
        formatted = {key: self._value(value) for key, value in values.items()}
        if self.language in RTL:
            formatted = {key: _isolated(value) for key, value in formatted.items()}
        return text.format(**formatted)

    def isolate(self, text: str) -> str:
        """``text`` (a number or code set beside words outside a sentence: a list line, a
        button) kept in its own direction when this language reads right to left."""
        return _isolated(text) if self.language in RTL else text

    def join(self, items: Iterable[object]) -> str:
        """A list of names as this language writes one ("A, B", "A、B", "A، B"); the items
        are taken as they are (escape them first when they come from users)."""
        return LIST_SEPARATORS.get(self.language, ", ").join(str(item) for item in items)

    def _value(self, value: Any) -> str:
        if isinstance(value, Html):
            return value
        if isinstance(value, Money):
            return escape(self.money(value))
        if isinstance(value, bool):
            return escape(value)
        if isinstance(value, int | Decimal):
            return escape(format_decimal(value, locale=self.language))
        if isinstance(value, datetime):
            return escape(self.datetime(value))
        if isinstance(value, date):
            return escape(self.date(value))
        return escape(value)

    def money(self, value: Money | dict[str, str]) -> str:
        if isinstance(value, dict):
            value = Money.parse(value["amount"], value["currency"])
        return format_currency(value.amount, value.currency, locale=self.language)

    def date(self, value: date | datetime | str) -> str:
        if isinstance(value, str):
            value = date.fromisoformat(value[:10])
        if isinstance(value, datetime):
            value = value.date()
        return format_date(value, format="medium", locale=self.language)

    def datetime(self, value: datetime) -> str:
        return format_datetime(value, format="short", tzinfo=value.tzinfo, locale=self.language)

    def percent(self, value: Decimal | int | str) -> str:
        """15 → "15 %" / "15%" / "١٥٪؜" as the locale writes it."""
        return format_percent(
            Decimal(str(value)) / 100, locale=self.language, decimal_quantization=False
        )

    def number(self, value: int | Decimal) -> str:
        return format_decimal(value, locale=self.language)


def _isolated(value: str) -> str:
    """A value kept in its own direction inside right-to-left text (one line at most: an
    isolate ends with its paragraph)."""
    if not value or "\n" in value or value.startswith(FSI):
        return value
    return FSI + value + PDI


class Catalogs:
    """Every supported language's translator, loaded once."""

    def __init__(self, directory: Path = LOCALES_DIR) -> None:
        self._translators: dict[str, Translator] = {}
        source_texts: dict[object, object] = {}  # shared by every catalogue: see _load
        for language in SUPPORTED:
            catalog = _load(directory, language, source_texts)
            self._translators[language] = Translator(language, catalog)

    def get(self, language: str | None) -> Translator:
        return self._translators[resolve_language(language)]

    def __iter__(self):
        return iter(self._translators.values())


def _load(
    directory: Path, language: str, source_texts: dict[object, object]
) -> gettext.NullTranslations:
    """One language's catalogue. ``source_texts``: the English texts (the catalogue's keys)
    already held by other catalogues, whose copies this one uses instead of its own: one copy
    for all eleven rather than one each, 0.8 MB less live memory (benchmarks/README.md, twelfth
    round)."""
    po = directory / language / "LC_MESSAGES" / "messages.po"
    if language == DEFAULT or not po.is_file():
        return gettext.NullTranslations()
    with po.open("rb") as handle:
        catalog = read_po(handle, locale=language)
    buffer = io.BytesIO()
    write_mo(buffer, catalog, use_fuzzy=False)
    del catalog  # gone before the catalogue's own texts are made
    buffer.seek(0)
    translations = gettext.GNUTranslations(buffer)
    # _catalog: where GNUTranslations looks texts up (what gettext's own .mo reader fills)
    texts = translations._catalog  # type: ignore[attr-defined]
    translations._catalog = {  # type: ignore[attr-defined]
        source_texts.setdefault(key, key): text for key, text in texts.items()
    }
    return translations
