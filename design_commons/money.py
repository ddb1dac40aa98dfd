"""Money: ISO 4217 currencies, decimal rates and integer amounts in minor units.

An amount is an ``int`` in the currency's minor unit (cents for EUR, yen for JPY, fils for
BHD: 2, 0 and 3 decimals, as ISO 4217 and CLDR, through Babel, say). A rate is a
:class:`~decimal.Decimal` in the major unit, given as a decimal string (``"0.025"`` EUR per gram).
Rates are multiplied exactly; only the amount a line ends on is rounded.

Rounding rule: **half-up** (:data:`ROUNDING`, ``ROUND_HALF_UP``): a half minor unit goes away
from zero (0.125 EUR is 13 cents, 0.5 JPY is 1 yen), the commercial rounding price lists and VAT
invoices use. Amounts here are never negative, so "away from zero" is "up".
"""
from __future__ import annotations

import decimal
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from babel.numbers import format_currency, get_currency_precision, is_currency

from design_commons.reports import CodedError

ROUNDING = ROUND_HALF_UP
MAX_RATE_DIGITS = 18  # digits of a rate or amount string: far past any price, short of float trouble
MAX_RATE = Decimal(10) ** 9  # a billion of the major unit per gram, hour or piece: past any real price


class MoneyError(CodedError):
    """A currency, rate or amount that cannot be used; ``code`` is a stable name for it."""


def currency(code: object) -> str:
    """The ISO 4217 code, upper-cased, or :class:`MoneyError` ``unknown_currency``."""
    if not isinstance(code, str) or len(code.strip()) != 3 or not is_currency(code.strip().upper()):
        raise MoneyError("unknown_currency", f"{code!r} is not an ISO 4217 currency code")
    return code.strip().upper()


def minor_digits(code: str) -> int:
    """Decimals of the currency's minor unit: EUR 2, JPY 0, BHD 3."""
    return int(get_currency_precision(currency(code)))


def rate(text: object) -> Decimal:
    """A non-negative decimal rate from its string (``"0.025"``); numbers other than strings are refused,
    since a float has already lost the exact value the operator wrote."""
    if not isinstance(text, str):
        raise MoneyError("invalid_rate", "a rate is a decimal string such as \"0.025\"")
    try:
        value = Decimal(text.strip())
    except decimal.InvalidOperation:
        raise MoneyError("invalid_rate", f"{text!r} is not a decimal number") from None
    if not value.is_finite() or value < 0:
        raise MoneyError("invalid_rate", f"{text!r} is not a finite, non-negative number")
    exponent = value.as_tuple().exponent
    assert isinstance(exponent, int)  # finite, checked above
    if len(value.as_tuple().digits) > MAX_RATE_DIGITS or value > MAX_RATE or exponent < -12:
        raise MoneyError("invalid_rate", f"{text!r} is past the largest rate ({MAX_RATE:,}) or its 12 decimals")
    return value


def to_minor(major: Decimal, code: str) -> int:
    """A major-unit decimal rounded (half-up) to an integer amount of minor units."""
    digits = minor_digits(code)
    return int((major * (Decimal(10) ** digits)).quantize(Decimal(1), rounding=ROUNDING))


def amount(text: object, code: str) -> int:
    """A price written in the major unit (``"5.00"``) as minor units; more decimals than the currency
    has (``"5.5"`` yen, ``"1.2345"`` dinar) are refused rather than rounded away unseen."""
    value = rate(text)
    digits = minor_digits(code)
    scaled = value * (Decimal(10) ** digits)
    if scaled != scaled.to_integral_value():
        raise MoneyError("invalid_amount", f"{text!r} has more decimals than {currency(code)}'s {digits}")
    return int(scaled)


def major_text(minor: int, code: str) -> str:
    """The amount as a major-unit decimal string with the currency's decimals: 1250 EUR -> ``"12.50"``."""
    digits = minor_digits(code)
    return str((Decimal(minor) / (Decimal(10) ** digits)).quantize(Decimal(1).scaleb(-digits)))


def display(minor: int, code: str, locale: str = "en") -> str:
    """The amount for people, in a locale's way (``"€12.50"``, ``"12,50 €"``, ``"¥1,250"``)."""
    return str(format_currency(Decimal(major_text(minor, code)), currency(code), locale=locale))


@dataclass(frozen=True)
class Money:
    """An amount in minor units beside its currency."""

    amount: int
    currency: str

    def to_json(self) -> dict[str, object]:
        return {"amount": self.amount, "currency": self.currency}
