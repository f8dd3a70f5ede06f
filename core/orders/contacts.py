"""A buyer's e-mail and phone reduced to what names one person: the keys stored beside them on
the order (``orders.buyer_email_key``/``buyer_phone_key``) and compared by the abuse signals.

Migration 0012 fills the keys of older rows with a copy of these two functions: a change here
needs a migration that recomputes them."""

from __future__ import annotations

import re

_NOT_DIGITS = re.compile(r"\D")
MIN_PHONE_DIGITS = 6  # fewer digits identify nobody


def normal_email(email: str | None) -> str | None:
    value = (email or "").strip().lower()
    return value if "@" in value else None


def phone_digits(phone: str | None) -> str | None:
    digits = _NOT_DIGITS.sub("", phone or "")
    return digits if len(digits) >= MIN_PHONE_DIGITS else None
