"""Languages: Telegram's language tags map to our catalogues (Traditional Chinese apart from
Simplified), plural sentences take the form the reader's grammar asks for, lists are joined
the reader's way, and numbers and codes keep their direction inside Arabic text."""

from __future__ import annotations

import gettext
import re

import pytest
from babel import Locale
from babel.messages.plurals import get_plural

from bot.views.i18n import (
    ALL_LANGUAGES,
    LOCALES_DIR,
    NATIVE_NAMES,
    NEW_LANGUAGES,
    NEW_LANGUAGES_ON,
    SUPPORTED,
    resolve_language,
)
from core.money import Money
from tests.telegram.conftest import CATALOGS
from tests.telegram.test_catalogues import catalogue

# tag → (the catalogue once the four new languages are on, the catalogue until then)
TAGS = [
    ("zh-hant", "zh_Hant", "zh"),
    ("zh-TW", "zh_Hant", "zh"),
    ("zh_HK", "zh_Hant", "zh"),
    ("zh-mo", "zh_Hant", "zh"),
    ("zh-Hant-HK", "zh_Hant", "zh"),
    ("zh_Hant", "zh_Hant", "zh"),  # as a chosen language is stored
    ("zh", "zh", "zh"),
    ("zh-hans", "zh", "zh"),
    ("zh-CN", "zh", "zh"),
    ("zh-sg", "zh", "zh"),
    ("zh-Hans-HK", "zh", "zh"),  # the script wins over the region
    ("it", "it", "en"),
    ("it-CH", "it", "en"),
    ("nl-BE", "nl", "en"),
    ("pl", "pl", "en"),
    ("pt-br", "pt", "pt"),
    ("es_MX", "es", "es"),
    ("AR", "ar", "ar"),
    ("xx", "en", "en"),
    ("", "en", "en"),
    (None, "en", "en"),
]


@pytest.mark.parametrize(("tag", "when_on", "until_then"), TAGS)
def test_a_telegram_language_tag_resolves_to_its_catalogue(
    tag: str | None, when_on: str, until_then: str
) -> None:
    assert resolve_language(tag) == (when_on if NEW_LANGUAGES_ON else until_then)


def test_the_first_supported_tag_wins_and_every_catalogue_code_resolves_to_itself() -> None:
    assert resolve_language("xx", "de") == "de"
    assert resolve_language(None, "zh-tw", "en") == ("zh_Hant" if NEW_LANGUAGES_ON else "zh")
    for code in SUPPORTED:
        assert resolve_language(code) == code


def test_every_language_the_code_knows_has_a_name_a_babel_locale_and_plural_rules() -> None:
    assert set(NATIVE_NAMES) == set(ALL_LANGUAGES)
    assert set(NEW_LANGUAGES) <= set(ALL_LANGUAGES)
    assert (set(NEW_LANGUAGES) <= set(SUPPORTED)) is NEW_LANGUAGES_ON
    for code in ALL_LANGUAGES:
        locale = Locale.parse(code)
        assert locale.plural_form(1) in ("one", "other")
        assert get_plural(locale).num_plurals >= 1
    assert str(Locale.parse("zh_Hant").script) == "Hant"


def test_lists_of_names_are_joined_as_the_reader_writes_them() -> None:
    names = ["Aurora", "Nova", "Lumen"]
    assert CATALOGS.get("en").join(names) == "Aurora, Nova, Lumen"
    assert CATALOGS.get("zh").join(names) == "Aurora、Nova、Lumen"
    assert CATALOGS.get("ar").join(names) == "Aurora، Nova، Lumen"
    if NEW_LANGUAGES_ON:
        assert CATALOGS.get("zh-tw").join(names) == "Aurora、Nova、Lumen"


def test_numbers_and_codes_keep_their_direction_inside_arabic_text() -> None:
    ar, en = CATALOGS.get("ar"), CATALOGS.get("en")
    amount = Money.parse("35", "USD")
    msgid = "Case {number}: {amount} has been refunded."
    text = ar(msgid, number="R-2611-0042", amount=amount)
    assert "\u2068R-2611-0042\u2069" in text
    assert f"\u2068{ar.money(amount)}\u2069" in text
    assert ar.plural("One open case:", "{n} open cases:", 12).count("\u2068") == 1
    # left-to-right readers get the values as they are; a block of lines is not isolated
    assert "\u2068" not in en(msgid, number="R-2611-0042", amount=amount)
    # beside words outside a sentence too: a line of a list of cases, a button
    assert ar.isolate("R-2611-0042") == "\u2068R-2611-0042\u2069"
    assert en.isolate("R-2611-0042") == "R-2611-0042"
    block = ar("Message from the shop about case {number}: {text}", number="R-1", text="a\nb")
    assert "\u2068R-1\u2069" in block and "\u2068a" not in block


# CLDR's categories, in the order gettext numbers the forms of these languages
CATEGORY_INDEX = {"ru": ("one", "few", "many", "other"), "pl": ("one", "few", "many", "other")}
PLACEHOLDER = re.compile(r"\{(\w+)\}")
COUNTS = (0, 1, 2, 3, 4, 5, 11, 12, 14, 21, 22, 25, 101, 102, 105, 111, 112)


@pytest.mark.parametrize("language", ["ru", "pl"])
def test_plural_sentences_take_the_form_the_readers_grammar_asks_for(language: str) -> None:
    po = LOCALES_DIR / language / "LC_MESSAGES" / "messages.po"
    if language not in SUPPORTED or not po.is_file():
        pytest.skip(f"the {language} catalogue is not switched on yet (NEW_LANGUAGES_ON)")
    tr = CATALOGS.get(language)
    locale = Locale.parse(language)
    index_of = gettext.c2py(get_plural(locale).plural_expr)
    entries = [m for m in catalogue(language) if isinstance(m.id, tuple) and all(m.string)]
    assert len(entries) >= 10, "the catalogue's plural entries are missing"
    forms_seen: set[int] = set()
    for entry in entries:
        singular, plural = entry.id
        for n in COUNTS:
            index = index_of(n)
            # gettext's formula and CLDR's categories agree on the form
            assert CATEGORY_INDEX[language][index] == locale.plural_form(n), (language, n)
            values = {name: "X" for name in PLACEHOLDER.findall(singular + plural) if name != "n"}
            text = tr.plural(singular, plural, n, **values)
            assert text == entry.string[index].format(n=tr.number(n), **values), (singular, n)
            forms_seen.add(index)
    assert forms_seen == {0, 1, 2}  # one (1, 21, 101), few (2–4, 22), many (5, 11–14, 25)
    # a count the sentence shows is written out in every form that covers many numbers
    for n in (2, 5, 21, 22, 25):
        assert tr.number(n) in tr.plural("One open case:", "{n} open cases:", n)
