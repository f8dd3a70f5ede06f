"""Order numbers as buyers type them: '#AUR-10021', 'aur 10021', 'ＡＵＲ－１００２１'."""

from __future__ import annotations

import re
import unicodedata

from core.cases.numbers import without_case_numbers

_SEPARATORS = re.compile(r"[\s\-‐‑‒–—―_./]+")
# In a sentence: an optional '#', letters, an optional separator, then digits.
_IN_TEXT = re.compile(r"(?<![\w#])#?\s?([A-Za-z]{1,6}[\s\-_]?\d{3,12}|\d{4,12})(?!\w)")


def normalize_order_number(text: str) -> str:
    """A canonical key: NFKC (full-width → ASCII), no '#', no separators, upper case."""
    folded = unicodedata.normalize("NFKC", text).strip().lstrip("#").strip()
    return _SEPARATORS.sub("", folded).upper()


def find_order_numbers(text: str) -> list[str]:
    """Candidate order numbers mentioned in free text, normalized, in order of appearance."""
    folded = without_case_numbers(unicodedata.normalize("NFKC", text))
    seen: list[str] = []
    for match in _IN_TEXT.finditer(folded):
        key = normalize_order_number(match.group(1))
        if key not in seen:
            seen.append(key)
    return seen
