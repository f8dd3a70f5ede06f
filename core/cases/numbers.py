"""Case numbers as people type them: ``R-2611-0042`` (prefix, year and month, sequence)."""

from __future__ import annotations

import re

_CASE_NUMBER = re.compile(r"\b[A-Z]{1,3}-\d{4}-\d{4,}\b", re.IGNORECASE)


def find_case_numbers(text: str) -> list[str]:
    """Case numbers mentioned in a text, upper-cased, in order of appearance."""
    return [match.upper() for match in _CASE_NUMBER.findall(text)]


def without_case_numbers(text: str) -> str:
    """The text with case numbers blanked, so that "R-2611-0042" is not read as order R2611."""
    return _CASE_NUMBER.sub(" ", text)
