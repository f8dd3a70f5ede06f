"""What a translation must never change: amounts, dates, order, case and tracking numbers,
URLs and e-mail addresses. They are wrapped before the text goes to a provider (as spans the
provider leaves alone) and checked after: every one must come back exactly as written."""

from __future__ import annotations

import html
import re
from collections import Counter
from dataclasses import dataclass

_CURRENCY = r"[$€£¥₽₹₩₺₴₸]"
_CODES = (
    r"(?:USD|EUR|GBP|CNY|RMB|RUB|JPY|BRL|MXN|ARS|CLP|COP|PEN|CAD|AUD|CHF|PLN|CZK|SEK|NOK|"
    r"DKK|TRY|UAH|KZT|INR|KRW|AED|SAR|EGP|HKD|TWD|SGD)"
)
_URL = r"(?:https?://|www\.)[^\s<>\"']*[^\s<>\"'.,;:!?)\]]"
_EMAIL = r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+"
# a word holding a digit (12, 12.50, 2026-12-06, NV-5502, #1001, LP00123456789CN, 14:30),
# with its currency sign or code when it has one
_NUMBERISH = (
    rf"(?:{_CURRENCY}\s?|\b{_CODES}\s)?#?(?:[^\W_]+[-/.:,])*[^\W_]*\d(?:[-/.:,]?[^\W_])*"
    rf"(?:\s?{_CURRENCY}|\s{_CODES}\b)?"
)
SPANS = re.compile(rf"{_URL}|{_EMAIL}|{_NUMBERISH}")
_TAG = re.compile(r"</?x>|<span translate=\"no\">|</span>")


def spans(text: str) -> list[str]:
    """The parts of ``text`` a translation must keep exactly, in order."""
    return [match.group(0) for match in SPANS.finditer(text)]


@dataclass(frozen=True)
class Protected:
    markup: str  # the text as XML/HTML, each span wrapped in <x>…</x>
    spans: tuple[str, ...]


def protect(text: str) -> Protected:
    """The text escaped as markup, each span wrapped in ``<x>`` (DeepL's ignore_tags; turned
    into ``<span translate="no">`` for an HTML-mode provider)."""
    out: list[str] = []
    found: list[str] = []
    last = 0
    for match in SPANS.finditer(text):
        out.append(html.escape(text[last : match.start()], quote=False))
        out.append(f"<x>{html.escape(match.group(0), quote=False)}</x>")
        found.append(match.group(0))
        last = match.end()
    out.append(html.escape(text[last:], quote=False))
    return Protected("".join(out), tuple(found))


def unmark(markup: str) -> str:
    """Translated markup back to plain text."""
    return html.unescape(_TAG.sub("", markup))


def missing(original_spans: tuple[str, ...] | list[str], translated: str) -> list[str]:
    """The spans that did not come back unchanged (as often as they were written)."""
    lost: list[str] = []
    for span, count in Counter(original_spans).items():
        if translated.count(span) < count:
            lost.append(span)
    return lost
