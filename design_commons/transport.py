"""Transport emissions of a part's last leg, beside a stated reference (DESIGN.md "Transport").

Transport only, well-to-wheel (WTW = tank-to-wheel + well-to-tank), in kg CO2e:

- shipped mass = part mass + 0.10 kg packaging; road km = geodesic km x 1.3;
- ``walk_bike``, ``cargo_bike``: 0;
- ``car_pickup``: 2 x road km x car (the citizen drives there and back);
- ``courier_van``: 2 x road km x car (the car's factor as a stated proxy for a small van);
- ``parcel``: one drop + t x road km x HGV.

References: sea from Shenzhen to Rotterdam (19,600 km) then lorry to the citizen then a drop;
air from Hong Kong (great circle x 1.08) then lorry from the airport then a drop; a national
warehouse by lorry then a drop. Each figure has a band: low with tank-to-wheel factors and air
without radiative forcing; high with well-to-wheel factors, air with radiative forcing and a
1.2 kg drop. A saving (reference - chosen) may be negative and is reported as it is.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from design_commons.reports import CodedError

DESNZ = "UK DESNZ greenhouse gas conversion factors for company reporting"
OGL = "Open Government Licence v3.0"
EDWARDS = ("Edwards, McKinnon & Cullinane (2010), Comparative analysis of the carbon footprints of conventional "
           "and online retailing: a 'last mile' perspective, IJPDLM 40(1/2)")
WORDS = "transport only"
METHOD_URL = "/methods/transport"


@dataclass(frozen=True)
class Factor:
    key: str
    label: str
    value: float
    unit: str
    edition: str
    source: str
    licence: str = OGL


CAR = Factor("car", "average car, unknown fuel (WTW)", 0.16591, "kg CO2e / vehicle-km", "2026", DESNZ + ", passenger vehicles")
HGV = Factor("hgv", "HGV, all diesel, average laden (WTW)", 0.12715, "kg CO2e / tonne-km", "2026",
             DESNZ + ", freighting goods")
SEA = Factor("sea", "container ship, average (WTW)", 0.01977, "kg CO2e / tonne-km", "2026", DESNZ + ", freighting goods")
AIR = Factor("air", "air freight, international long-haul (WTW)", 1.03455, "kg CO2e / tonne-km", "2026",
             DESNZ + ", freighting goods")
DROP = Factor("drop", "one home delivery drop", 0.181, "kg CO2e / drop", "2010", EDWARDS, "cited figure")
DROP_HIGH = Factor("drop_high", "one home delivery drop, high case", 1.2, "kg CO2e / drop", "2010", EDWARDS,
                   "cited figure")
# Tank-to-wheel share of a WTW factor, for the low band: the indirect (well-to-tank) part of the
# all-HGV tonne-km factor in DEFRA/DECC's 2012 Annex 7 table 7e (0.02627 of 0.14993), applied to
# every fuel as a stated proxy.
WTT_SHARE = Factor("wtt_share", "well-to-tank share of a WTW factor", 0.02627 / 0.14993, "fraction", "2012",
                   "DEFRA/DECC GHG conversion factors 2012, Annex 7, table 7e (all HGVs)")
RF = Factor("rf", "radiative forcing multiplier for aviation (high band)", 1.7, "x", "2026",
            DESNZ + ", methodology paper: non-CO2 effects of aviation")
PACKAGING_KG = 0.10
ROAD_FACTOR = 1.3  # road km per geodesic km
AIR_ROUTING = 1.08  # great circle uplift for routing and stacking, as DESNZ advises
SEA_KM = 19_600.0  # Shenzhen to Rotterdam by sea
AIRPORT_KM = 50.0  # geodesic km from the arrival airport to the citizen (stated)
WAREHOUSE_KM = 150.0  # geodesic km from a national warehouse to the citizen (stated)
FACTORS = (CAR, HGV, SEA, AIR, DROP, DROP_HIGH, WTT_SHARE, RF)
MODES = ("walk_bike", "cargo_bike", "car_pickup", "courier_van", "parcel")
# Where the references start, for the caller to measure the geodesic km to the delivery point.
ORIGINS = {"sea_shenzhen": ("Rotterdam (after 19,600 km by sea from Shenzhen)", 51.9225, 4.47917),
           "air_hong_kong": ("Hong Kong International Airport", 22.308, 113.9185)}
REFERENCES = ("sea_shenzhen", "air_hong_kong", "national_warehouse")


class TransportError(CodedError):
    """A figure this module cannot work out."""


@dataclass(frozen=True)
class Figure:
    name: str
    kg_co2e: float
    low: float
    high: float
    formula: str

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "kg_co2e": round(self.kg_co2e, 4), "low": round(self.low, 4),
                "high": round(self.high, 4), "formula": self.formula}


def shipped_kg(part_mass_g: float) -> float:
    return part_mass_g / 1000 + PACKAGING_KG


def _ttw(factor: Factor) -> float:
    return factor.value * (1 - WTT_SHARE.value)


def last_leg(mode: str, part_mass_g: float, geodesic_km: float) -> Figure:
    """The chosen mode's figure for a part of this mass carried this far (geodesic km)."""
    if mode not in MODES:
        raise TransportError("unknown_delivery_mode", f"delivery mode is one of {', '.join(MODES)}")
    road = geodesic_km * ROAD_FACTOR
    t = shipped_kg(part_mass_g) / 1000
    if mode in ("walk_bike", "cargo_bike"):
        return Figure(mode, 0.0, 0.0, 0.0, "0: no motor")
    if mode in ("car_pickup", "courier_van"):
        central = 2 * road * CAR.value
        return Figure(mode, central, 2 * road * _ttw(CAR), central,
                      f"2 x {geodesic_km:.3f} km x {ROAD_FACTOR} x {CAR.value} kg/vehicle-km")
    central = DROP.value + t * road * HGV.value
    return Figure(mode, central, DROP.value + t * road * _ttw(HGV), DROP_HIGH.value + t * road * HGV.value,
                  f"{DROP.value} kg/drop + {t:.6f} t x {geodesic_km:.3f} km x {ROAD_FACTOR} x {HGV.value} kg/t-km")


def reference(name: str, part_mass_g: float, origin_km: float | None = None) -> Figure:
    """A reference scenario's figure. ``origin_km``: geodesic km from :data:`ORIGINS`' point of the
    scenario to the delivery point (Rotterdam for sea, Hong Kong for air; unused for the warehouse)."""
    t = shipped_kg(part_mass_g) / 1000
    if name == "national_warehouse":
        road = WAREHOUSE_KM * ROAD_FACTOR
        return Figure(name, DROP.value + t * road * HGV.value, DROP.value + t * road * _ttw(HGV),
                      DROP_HIGH.value + t * road * HGV.value,
                      f"{t:.6f} t x {WAREHOUSE_KM} km x {ROAD_FACTOR} x {HGV.value} + {DROP.value}")
    if name not in ORIGINS or origin_km is None:
        raise TransportError("unknown_reference", f"reference is one of {', '.join(REFERENCES)} (with its distance)")
    if name == "sea_shenzhen":
        road = origin_km * ROAD_FACTOR
        main = t * SEA_KM
        return Figure(name, main * SEA.value + t * road * HGV.value + DROP.value,
                      main * _ttw(SEA) + t * road * _ttw(HGV) + DROP.value,
                      main * SEA.value + t * road * HGV.value + DROP_HIGH.value,
                      f"{t:.6f} t x ({SEA_KM:.0f} km x {SEA.value} + {origin_km:.3f} km x {ROAD_FACTOR} x {HGV.value})"
                      f" + {DROP.value}")
    flown = t * origin_km * AIR_ROUTING
    road = AIRPORT_KM * ROAD_FACTOR
    return Figure(name, flown * AIR.value + t * road * HGV.value + DROP.value,
                  flown * _ttw(AIR) + t * road * _ttw(HGV) + DROP.value,
                  flown * AIR.value * RF.value + t * road * HGV.value + DROP_HIGH.value,
                  f"{t:.6f} t x ({origin_km:.3f} km x {AIR_ROUTING} x {AIR.value} + {AIRPORT_KM} km x {ROAD_FACTOR} "
                  f"x {HGV.value}) + {DROP.value}")


def methods() -> list[dict[str, Any]]:
    """Every factor with its edition and source, for the methods page."""
    return [{"key": f.key, "label": f.label, "value": f.value, "unit": f.unit, "edition": f.edition,
             "source": f.source, "licence": f.licence} for f in FACTORS]


def statement(chosen: Figure, ref: Figure) -> dict[str, Any]:
    """API.md's ``transport`` object: the chosen leg with its band, the reference and the saving (may be negative)."""
    return {"mode": chosen.name, "kg_co2e": round(chosen.kg_co2e, 4), "low": round(chosen.low, 4),
            "high": round(chosen.high, 4), "formula": chosen.formula,
            "reference": {"name": ref.name, "kg_co2e": round(ref.kg_co2e, 4), "low": round(ref.low, 4),
                          "high": round(ref.high, 4), "formula": ref.formula},
            "saving_kg_co2e": round(ref.kg_co2e - chosen.kg_co2e, 4), "words": WORDS, "method_url": METHOD_URL}
