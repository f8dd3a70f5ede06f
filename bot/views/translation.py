"""How translated words look: the mark ("🌐 ES→ZH · machine"), the block a staff alert gets
under the buyer's words, and the message a buyer gets from an agent writing in another
language (the translation, its mark, and the original one tap away in an expandable quote)."""

from __future__ import annotations

from bot.views.i18n import Html, Translator, escape
from core.translation.service import Translation

MAX_TRANSLATED = 1500  # characters of a translation shown in an alert (Telegram's 4096 in all)


def code(language: str) -> str:
    """ES, ZH, ZH-HANT: a language as the mark shows it."""
    return language.replace("_", "-").upper()


def mark(tr: Translator, t: Translation) -> str:
    """🌐 ES→ZH · machine, or 🌐 ES · original when nothing could translate it."""
    if t.machine:
        return tr("🌐 {source}→{target} · machine", source=code(t.source), target=code(t.target))
    return tr("🌐 {source} · original, not translated", source=code(t.source))


def staff_block(tr: Translator, translations: list[Translation]) -> str:
    """Under an alert: the buyer's words in the reader's language (the original is above)."""
    lines: list[str] = []
    for t in translations:
        lines.append(f"<i>{mark(tr, t)}</i>")
        if t.machine:
            text = t.text if len(t.text) <= MAX_TRANSLATED else t.text[:MAX_TRANSLATED] + "…"
            lines.append(escape(text))
    return "\n".join(lines)


def relay_note(tr: Translator, t: Translation) -> str:
    """After the buyer's message copied into an agent's topic or chat: its translation."""
    if not t.machine:
        return f"<i>{mark(tr, t)}</i>"
    return f"<i>{mark(tr, t)}</i>\n{escape(t.text)}"


def original_quote(text: str) -> str:
    return f"<blockquote expandable>{escape(text)}</blockquote>"


def to_buyer(tr: Translator, t: Translation) -> str:
    """An agent's words translated for the buyer: the translation, the mark, the original
    (tap the quote to open it)."""
    return "\n".join(
        [
            escape(t.text),
            "",
            "<i>"
            + tr("🌐 Machine-translated from {language}. The original:", language=code(t.source))
            + "</i>",
            original_quote(t.original),
        ]
    )


def to_buyer_untranslatable(tr: Translator, t: Translation) -> str:
    """The original, when its translation would have changed an amount or a number."""
    return "\n".join(
        [
            escape(t.original),
            "",
            "<i>"
            + tr(
                "🌐 Written in {language}. A machine translation would have changed "
                "its numbers, so you get it as written.",
                language=code(t.source),
            )
            + "</i>",
        ]
    )


def preview(tr: Translator, t: Translation, back: Translation) -> str:
    """What an agent sees before sending: what the buyer will read, and that translated back."""
    lines = [
        tr("The buyer will read ({language}):", language=code(t.target)),
        f"<blockquote>{escape(t.text)}</blockquote>",
    ]
    if back.machine:
        lines += [
            tr("Translated back:"),
            f"<blockquote>{escape(back.text)}</blockquote>",
        ]
    lines.append(tr("Send it, send your words as written, or cancel and write again."))
    return "\n".join(lines)


def not_translated_note(tr: Translator, lost: tuple[str, ...]) -> str:
    """To the agent: the buyer got the original, because the translation changed these."""
    return tr(
        "The translation changed {values}, so the buyer got your words as written, with a note.",
        values=Html(", ".join(f"<code>{escape(v)}</code>" for v in lost)),
    )
