"""Languages: catalogues, the choice of language for a user, and a translator that formats
money, dates and numbers for the locale and escapes every value for Telegram's HTML.

Catalogues are the ``.po`` files in ``locales/``, compiled in memory at start with Babel, so
there is no separate compile step to forget. English msgids are the source text.
"""

from __future__ import annotations

import gettext
import html
import io
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
# In the order the language menu shows them.
SUPPORTED: tuple[str, ...] = ("en", "zh", "ru", "es", "pt", "fr", "de", "ar")
NATIVE_NAMES = {
    "en": "English",
    "zh": "中文",
    "ru": "Русский",
    "es": "Español",
    "pt": "Português",
    "fr": "Français",
    "de": "Deutsch",
    "ar": "العربية",
}
RTL = frozenset({"ar"})


def resolve_language(*tags: str | None) -> str:
    """The first supported language among these tags ('pt-br' → pt, 'zh-hans' → zh,
    'es_MX' → es); English when none is supported."""
    for tag in tags:
        if not tag:
            continue
        base = tag.replace("_", "-").split("-")[0].strip().lower()
        if base in SUPPORTED:
            return base
    return DEFAULT


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
        return text.format(**{key: self._value(value) for key, value in values.items()})

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


class Catalogs:
    """Every supported language's translator, loaded once."""

    def __init__(self, directory: Path = LOCALES_DIR) -> None:
        self._translators: dict[str, Translator] = {}
        for language in SUPPORTED:
            self._translators[language] = Translator(language, _load(directory, language))

    def get(self, language: str | None) -> Translator:
        return self._translators[resolve_language(language)]

    def __iter__(self):
        return iter(self._translators.values())


def _load(directory: Path, language: str) -> gettext.NullTranslations:
    po = directory / language / "LC_MESSAGES" / "messages.po"
    if language == DEFAULT or not po.is_file():
        return gettext.NullTranslations()
    with po.open("rb") as handle:
        catalog = read_po(handle, locale=language)
    buffer = io.BytesIO()
    write_mo(buffer, catalog, use_fuzzy=False)
    buffer.seek(0)
    return gettext.GNUTranslations(buffer)
