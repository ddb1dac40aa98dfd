"""Money: ISO 4217 minor units, decimal rates, half-up rounding (EUR, JPY, BHD)."""
from decimal import Decimal

import pytest

from design_commons import money


def test_minor_units_follow_iso_4217():
    assert (money.minor_digits("EUR"), money.minor_digits("jpy"), money.minor_digits("BHD")) == (2, 0, 3)


def test_unknown_currency_is_refused_with_a_code():
    for bad in ("ZZZ", "EURO", "", None, 12):
        with pytest.raises(money.MoneyError) as e:
            money.currency(bad)
        assert e.value.code == "unknown_currency"


def test_rounding_is_half_up_not_half_even():
    assert money.ROUNDING == "ROUND_HALF_UP"
    assert money.to_minor(Decimal("0.125"), "EUR") == 13  # half-even would say 12
    assert money.to_minor(Decimal("0.135"), "EUR") == 14
    assert money.to_minor(Decimal("52.5"), "JPY") == 53  # half-even would say 52
    assert money.to_minor(Decimal("1.2375"), "BHD") == 1238
    assert money.to_minor(Decimal("0.1249"), "EUR") == 12


def test_amounts_in_major_units_become_minor_units():
    assert money.amount("5.00", "EUR") == 500 and money.amount("5", "EUR") == 500
    assert money.amount("1250", "JPY") == 1250 and money.amount("1.250", "BHD") == 1250
    with pytest.raises(money.MoneyError) as e:
        money.amount("5.5", "JPY")  # a yen has no cents: refused, not rounded away
    assert e.value.code == "invalid_amount"
    with pytest.raises(money.MoneyError):
        money.amount("0.0001", "BHD")


def test_rates_are_exact_decimal_strings():
    assert money.rate("0.025") == Decimal("0.025")
    for bad in (0.025, "-1", "NaN", "Infinity", "abc", "1" * 30, "1E+100", "1E-40", "2000000000"):
        with pytest.raises(money.MoneyError) as e:
            money.rate(bad)
        assert e.value.code == "invalid_rate"


def test_amounts_print_with_the_currency_decimals():
    assert money.major_text(1250, "EUR") == "12.50"
    assert money.major_text(1250, "JPY") == "1250"
    assert money.major_text(1250, "BHD") == "1.250"
    assert money.display(1250, "EUR", "es_ES") == "12,50\xa0€"
    assert money.display(1250, "JPY", "ja_JP") == "￥1,250"
