"""Every sentence the bot can say exists, translated, in every supported language, with the
same placeholders as the English source, and every catalogue compiles."""

from __future__ import annotations

import gettext
import io
import re
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

from bot.views.i18n import LOCALES_DIR, SUPPORTED, Catalogs

ROOT = Path(__file__).resolve().parents[2]
KEYWORDS = {"tr": None, "plural": (1, 2)}
PLACEHOLDER = re.compile(r"\{(\w+)\}")
TRANSLATED = [language for language in SUPPORTED if language != "en"]


def source_messages() -> dict[str, str | None]:
    """msgid → msgid_plural (or None) for every tr()/plural() call in bot/."""
    found: dict[str, str | None] = {}
    for _file, _line, message, _comments, _context in extract_from_dir(
        ROOT / "bot",
        method_map=[("**.py", "python")],
        keywords=KEYWORDS,
        comment_tags=(),
        strip_comment_tags=True,
    ):
        if isinstance(message, tuple):
            found[message[0]] = message[1]
        else:
            found[message] = None
    return found


def catalogue(language: str):
    with (LOCALES_DIR / language / "LC_MESSAGES" / "messages.po").open("rb") as handle:
        return read_po(handle, locale=language)


def names(text: str) -> set[str]:
    return set(PLACEHOLDER.findall(text))


def test_the_source_has_messages_and_the_template_is_current() -> None:
    messages = source_messages()
    assert len(messages) > 200
    with (LOCALES_DIR / "messages.pot").open("rb") as handle:
        template = read_po(handle)
    in_template = {m.id if isinstance(m.id, str) else m.id[0] for m in template if m.id}
    assert set(messages) == in_template, "run the pybabel extract command in babel.cfg"


@pytest.mark.parametrize("language", TRANSLATED)
def test_every_message_is_translated_with_the_same_placeholders(language: str) -> None:
    catalog = catalogue(language)
    problems = []
    for msgid, msgid_plural in source_messages().items():
        entry = catalog.get(msgid)
        if entry is None:
            problems.append(f"missing: {msgid!r}")
            continue
        if entry.fuzzy:
            problems.append(f"fuzzy: {msgid!r}")
        if msgid_plural is None:
            if not entry.string:
                problems.append(f"untranslated: {msgid!r}")
            elif names(entry.string) != names(msgid):
                problems.append(f"placeholders differ: {msgid!r} -> {entry.string!r}")
            continue
        forms = entry.string if isinstance(entry.string, tuple) else (entry.string,)
        allowed = names(msgid) | names(msgid_plural)
        required = names(msgid_plural) - {"n"}
        for form in forms:
            if not form:
                problems.append(f"untranslated plural form: {msgid!r}")
            elif not names(form) <= allowed or not required <= names(form):
                problems.append(f"placeholders differ: {msgid!r} -> {form!r}")
    assert problems == []


@pytest.mark.parametrize("language", TRANSLATED)
def test_a_catalogue_has_no_stale_messages(language: str) -> None:
    current = set(source_messages())
    stale = [
        m.id
        for m in catalogue(language)
        if m.id and (m.id if isinstance(m.id, str) else m.id[0]) not in current
    ]
    assert stale == []


@pytest.mark.parametrize("language", TRANSLATED)
def test_each_catalogue_compiles(language: str) -> None:
    assert len(_compiled(language).getvalue()) > 1000


def test_plural_forms_that_cover_many_numbers_show_the_number() -> None:
    catalogs = Catalogs()
    for language in TRANSLATED:
        tr = catalogs.get(language)
        for n in (2, 5, 11, 21, 102):
            text = tr.plural("Received one photo or video.", "Received {n} photos or videos.", n)
            assert str(n) in text, (language, n, text)


def test_the_catalogues_translate_as_compiled_and_hold_one_copy_of_each_english_text() -> None:
    """The catalogues share their keys, the English texts (bot/views/i18n.py): every
    translation is still the compiled catalogue's, and a text is one object for all."""
    catalogs = Catalogs()
    held: dict[str, int] = {}
    for language in TRANSLATED:
        tr = catalogs.get(language)
        compiled = gettext.GNUTranslations(_compiled(language))
        for message in catalogue(language):
            if not message.id or not message.string or message.fuzzy:
                continue
            if isinstance(message.id, tuple):  # plural forms
                singular, plural = message.id
                for n in (1, 2, 5, 11):
                    expected = compiled.ngettext(singular, plural, n)
                    assert tr._catalog.ngettext(singular, plural, n) == expected
                continue
            assert tr._catalog.gettext(message.id) == compiled.gettext(message.id)
        for key in tr._catalog._catalog:  # type: ignore[attr-defined]
            if isinstance(key, str) and key:
                assert held.setdefault(key, id(key)) == id(key), (language, key)
    assert len(held) > 300


def _compiled(language: str) -> io.BytesIO:
    buffer = io.BytesIO()
    write_mo(buffer, catalogue(language), use_fuzzy=False)
    buffer.seek(0)
    return buffer


def test_languages_resolve_from_telegram_tags_with_english_fallback() -> None:
    from bot.views.i18n import resolve_language

    assert resolve_language("pt-br") == "pt"
    assert resolve_language("zh-hans") == "zh"
    assert resolve_language("es-MX") == "es"
    assert resolve_language("xx-YY") == "en"  # tests/telegram/test_languages.py has the table
    assert resolve_language(None) == "en"
    assert resolve_language("xx", "de") == "de"
