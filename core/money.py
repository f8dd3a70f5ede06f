"""Money as integer minor units plus an ISO 4217 currency; never a float."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from functools import lru_cache

from babel.numbers import get_currency_precision


class MoneyError(ValueError):
    pass


# Beyond any real order (10^15 units) and any currency's minor units, and far below what makes
# decimal arithmetic slow: amounts typed by people and read from files are checked first.
MAX_WHOLE_DIGITS = 15
MAX_FRACTION_DIGITS = 12
MAX_AMOUNT_CHARACTERS = 40


@lru_cache(maxsize=512)
def currency_exponent(currency: str) -> int:
    """Digits after the decimal point for a currency (2 for EUR, 0 for JPY, 3 for KWD)."""
    return int(get_currency_precision(currency.upper()))


@dataclass(frozen=True, order=True, slots=True)
class Money:
    minor: int
    currency: str

    @classmethod
    def parse(cls, text: str | Decimal | int, currency: str) -> Money:
        """Parse a decimal string ("39.90") exactly; refuses more digits than the currency has."""
        currency = currency.upper()
        if len(currency) != 3 or not currency.isalpha():
            raise MoneyError(f"not an ISO 4217 currency code: {currency!r}")
        raw = str(text).strip()
        if len(raw) > MAX_AMOUNT_CHARACTERS:
            raise MoneyError(f"not a decimal amount: {raw[:20]!r}…")
        try:
            amount = Decimal(raw)
        except InvalidOperation as exc:
            raise MoneyError(f"not a decimal amount: {text!r}") from exc
        if not amount.is_finite():
            raise MoneyError(f"not a decimal amount: {text!r}")
        # Bounded before any arithmetic: "1e999990" would take the event loop for seconds
        # (and "1e1000000" overflow the decimal context) in scaleb and int().
        exponent = amount.as_tuple().exponent
        assert isinstance(exponent, int)  # finite, checked above
        if amount and not -MAX_FRACTION_DIGITS <= exponent <= MAX_WHOLE_DIGITS:
            raise MoneyError(f"{raw!r} is out of range")
        if amount.adjusted() >= MAX_WHOLE_DIGITS:
            raise MoneyError(f"{raw!r} is out of range")
        exp = currency_exponent(currency)
        scaled = amount.scaleb(exp)
        if scaled != scaled.to_integral_value():
            raise MoneyError(f"{text!r} has more than {exp} decimals for {currency}")
        return cls(int(scaled), currency)

    @classmethod
    def zero(cls, currency: str) -> Money:
        return cls(0, currency.upper())

    @property
    def amount(self) -> Decimal:
        return Decimal(self.minor).scaleb(-currency_exponent(self.currency))

    def _same(self, other: Money) -> None:
        if self.currency != other.currency:
            raise MoneyError(f"cannot mix {self.currency} and {other.currency}")

    def __add__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.minor + other.minor, self.currency)

    def __sub__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.minor - other.minor, self.currency)

    def __mul__(self, times: int) -> Money:
        return Money(self.minor * times, self.currency)

    def percent(self, percent: Decimal | int | str) -> Money:
        """``percent`` % of this amount, rounded half up to the minor unit."""
        value = (Decimal(self.minor) * Decimal(str(percent)) / 100).quantize(
            Decimal(1), rounding=ROUND_HALF_UP
        )
        return Money(int(value), self.currency)

    def clamp_min_zero(self) -> Money:
        return self if self.minor >= 0 else Money(0, self.currency)

    def __str__(self) -> str:
        exp = currency_exponent(self.currency)
        return f"{self.amount:.{exp}f} {self.currency}"

    def as_decimal_string(self) -> str:
        return f"{self.amount:.{currency_exponent(self.currency)}f}"

    def as_dict(self) -> dict[str, str]:
        """As JSON carries it: ``{"amount": "39.90", "currency": "EUR"}``."""
        return {"amount": self.as_decimal_string(), "currency": self.currency}


def total(amounts: list[Money] | tuple[Money, ...], currency: str) -> Money:
    result = Money.zero(currency)
    for amount in amounts:
        result = result + amount
    return result
