"""Rate cards applied to estimates: every total equal to a hand calculation (EUR, JPY, BHD)."""
import pytest

from design_commons import pricing
from design_commons.estimates import Estimate

EUR_CARD = {"currency": "EUR", "vat_percent": 21, "prices_include_vat": False, "minimum": "5.00",
            "lines": [{"machine_key": "p1", "material": "PLA", "setup": "3.00", "per_gram": "0.025",
                       "per_hour": "2.50", "minimum": "8.00"}],
            "quantity_discounts": [{"min_quantity": 10, "percent": 10}, {"min_quantity": 50, "percent": 20}]}


def part(mass_g=0.0, seconds=0.0, cm3=0.0, m2=0.0, process="fdm"):
    return Estimate(process, "PLA", mass_g, cm3, seconds, m2)


def quote(card, estimate, quantity=1, machine="p1", material="PLA"):
    c = pricing.parse_card(card)
    line = c.line_for(machine, material)
    assert line is not None
    return pricing.price(c, line, estimate, quantity, version=3)


def amounts(p):
    return {ln.label: ln.amount for ln in p.lines}


def test_eur_one_piece_vat_added():
    p = quote(EUR_CARD, part(40, 7200))
    # setup 3.00 + 40 g x 0.025 = 1.00 + 2 h x 2.50 = 5.00 -> 9.00; VAT 21 % = 1.89
    assert amounts(p) == {"setup": 300, "material": 100, "machine time": 500, "VAT": 189}
    assert (p.total, p.vat, p.currency, p.rate_card_version) == (1089, 189, "EUR", 3)
    assert sum(ln.amount for ln in p.lines) == p.total
    assert p.lines[1].formula == "40 g x 0.025 EUR/g x 1"


def test_eur_quantity_discount_and_half_up_vat():
    p = quote(EUR_CARD, part(40, 7200), quantity=10)
    # 3.00 + 10.00 + 50.00 = 63.00; -10 % = 56.70; VAT 21 % = 11.907 -> 11.91 (half-up)
    assert amounts(p) == {"setup": 300, "material": 1000, "machine time": 5000, "quantity discount": -630,
                          "VAT": 1191}
    assert p.total == 6861
    assert "10 or more" in p.lines[3].formula
    assert amounts(quote(EUR_CARD, part(40, 7200), quantity=60))["quantity discount"] == -(300 + 6000 + 30000) // 5


def test_line_minimum_then_lab_minimum():
    p = quote(EUR_CARD, part(2, 600))
    # 3.00 + 0.05 + 600 s = 0.1667 h x 2.50 = 0.41666 -> 0.42: 3.47, raised to the line minimum 8.00
    assert amounts(p) == {"setup": 300, "material": 5, "machine time": 42, "line minimum": 453, "VAT": 168}
    assert p.total == 968
    card = {**EUR_CARD, "minimum": "12.00"}
    p = quote(card, part(2, 600))
    assert amounts(p)["lab minimum"] == 400 and p.total == 1200 + 252


def test_half_up_on_a_line():
    card = {**EUR_CARD, "lines": [{"machine_key": "p1", "material": "pla", "per_gram": "0.025"}], "minimum": "0",
            "vat_percent": 0}
    assert quote(card, part(5, 0)).total == 13  # 0.125 EUR: half-even would say 12


def test_jpy_vat_included():
    card = {"currency": "JPY", "vat_percent": 10, "prices_include_vat": True,
            "lines": [{"machine_key": "sla1", "material": "Resin", "setup": "500", "per_ml": "3.5"}]}
    p = quote(card, part(cm3=15, seconds=3600, process="sla"), machine="sla1", material="standard resin")
    # 500 + 15 ml x 3.5 = 52.5 -> 53 yen; 553 yen include 553 x 10/110 = 50.27 -> 50 of VAT
    assert amounts(p) == {"setup": 500, "material": 53} and (p.total, p.vat) == (553, 50)


def test_bhd_three_decimals():
    card = {"currency": "BHD", "vat_percent": "10", "lines": [
        {"machine_key": "laser", "material": "Acrylic", "setup": "1.250", "per_hour": "0.4125", "per_m2": "12.5"}]}
    p = quote(card, part(seconds=3 * 3600, m2=0.06, process="laser_cutting"), machine="laser", material="PMMA")
    # 1.250 + 3 h x 0.4125 = 1.2375 -> 1.238 + 0.06 m2 x 12.5 = 0.750 -> 3.238; VAT 0.3238 -> 0.324
    assert amounts(p) == {"setup": 1250, "machine time": 1238, "sheet": 750, "VAT": 324}
    assert p.total == 3562


@pytest.mark.parametrize(("change", "code", "field"), [
    ({"currency": "XYZ"}, "unknown_currency", "currency"),
    ({"minimum": "5.001"}, "invalid_amount", "minimum"),
    ({"vat_percent": 120}, "invalid_rate", "vat_percent"),
    ({"lines": [{"machine_key": "p1", "material": "PLA", "per_gram": 0.02}]}, "invalid_rate", "lines[0].per_gram"),
    ({"lines": [{"machine_key": "p1", "material": "PLA", "per_gram": "1", "per_cm3": "1"}]}, "invalid_rate_card",
     "lines[0]"),
    ({"lines": [{"machine_key": "p1", "material": "PLA"}, {"machine_key": "p1", "material": "polylactic acid"}]},
     "invalid_rate_card", "lines"),
    ({"quantity_discounts": [{"min_quantity": 0, "percent": 5}]}, "invalid_rate_card",
     "quantity_discounts[0].min_quantity"),
    ({"opening_hours": {"timezone": "Mars/Olympus", "week": {"mon": [["09:00", "17:00"]]}}}, "unknown_timezone",
     "opening_hours"),
])
def test_bad_cards_name_the_field(change, code, field):
    with pytest.raises(pricing.RateCardError) as e:
        pricing.parse_card({**EUR_CARD, **change})
    assert (e.value.code, e.value.field) == (code, field)


def test_card_round_trips():
    card = pricing.parse_card({**EUR_CARD, "opening_hours": {
        "timezone": "Europe/Madrid", "week": {"mon": [["09:00", "14:00"], ["16:00", "20:00"]]}, "closed": ["2026-12-25"]}})
    again = pricing.parse_card(pricing.card_to_json(card))
    assert again == card
    assert pricing.card_to_json(card)["lines"][0]["per_gram"] == "0.025"
    assert card.line_for("p1", "PETG") is None and card.line_for("p2", "PLA") is None
