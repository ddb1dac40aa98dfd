"""Transport figures of every mode and reference, reproduced by hand (DESIGN.md "Transport")."""
import pytest

from design_commons import transport

TTW = 1 - 0.02627 / 0.14993  # tank-to-wheel share of a WTW factor (stated proxy)


def test_last_legs_by_hand():
    # a 400 g part ships as 0.5 kg = 0.0005 t; 10 km geodesic is 13 km by road
    assert transport.last_leg("walk_bike", 400, 10).kg_co2e == 0
    assert transport.last_leg("cargo_bike", 400, 10).high == 0
    car = transport.last_leg("car_pickup", 400, 10)
    assert car.kg_co2e == pytest.approx(2 * 13 * 0.16591)  # 4.31366
    assert car.low == pytest.approx(4.31366 * TTW) and car.high == pytest.approx(4.31366)
    assert transport.last_leg("courier_van", 400, 10).kg_co2e == pytest.approx(4.31366)
    parcel = transport.last_leg("parcel", 400, 10)
    assert parcel.kg_co2e == pytest.approx(0.181 + 0.0005 * 13 * 0.12715)
    assert parcel.high == pytest.approx(1.2 + 0.0005 * 13 * 0.12715)
    assert parcel.low == pytest.approx(0.181 + 0.0005 * 13 * 0.12715 * TTW)


def test_references_by_hand():
    sea = transport.reference("sea_shenzhen", 400, origin_km=1500)
    assert sea.kg_co2e == pytest.approx(0.0005 * (19600 * 0.01977 + 1500 * 1.3 * 0.12715) + 0.181)  # 0.49872
    air = transport.reference("air_hong_kong", 400, origin_km=9000)
    flown = 0.0005 * 9000 * 1.08 * 1.03455
    lorry = 0.0005 * 50 * 1.3 * 0.12715
    assert air.kg_co2e == pytest.approx(flown + lorry + 0.181)  # 5.2130
    assert air.high == pytest.approx(flown * 1.7 + lorry + 1.2)
    assert air.low == pytest.approx((flown + lorry) * TTW + 0.181)
    home = transport.reference("national_warehouse", 400)
    assert home.kg_co2e == pytest.approx(0.0005 * 150 * 1.3 * 0.12715 + 0.181)


@pytest.mark.parametrize("mode", transport.MODES)
def test_every_band_holds_its_central_value(mode):
    for figure in (transport.last_leg(mode, 250, 37), *(transport.reference(r, 250, 5000) for r in transport.REFERENCES)):
        assert figure.low <= figure.kg_co2e <= figure.high


def test_a_negative_saving_is_shown_as_it_is():
    s = transport.statement(transport.last_leg("car_pickup", 400, 10), transport.reference("sea_shenzhen", 400, 1500))
    assert s["saving_kg_co2e"] == pytest.approx(0.4987 - 4.3137, abs=1e-3) and s["saving_kg_co2e"] < 0
    assert s["words"] == "transport only" and s["method_url"] == "/methods/transport"
    assert s["reference"]["name"] == "sea_shenzhen"


def test_factors_name_edition_and_source():
    rows = transport.methods()
    assert {r["key"] for r in rows} >= {"car", "hgv", "sea", "air", "drop"}
    assert all(r["edition"] and r["source"] and r["unit"] for r in rows)
    assert next(r for r in rows if r["key"] == "hgv")["value"] == 0.12715
    with pytest.raises(transport.TransportError):
        transport.last_leg("teleport", 1, 1)
