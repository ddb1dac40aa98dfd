"""One vocabulary of materials: canonical names, the aliases people write, densities and their source.

``canonical("Polylactic acid")`` is ``"PLA"``; a name the vocabulary does not know stays the free
text it was (trimmed), and two free names are the same material when they match
case-insensitively (:func:`same`). Densities are in g/cm3 (= g/ml).
"""
from __future__ import annotations

from dataclasses import dataclass

PRUSASLICER = "PrusaSlicer 2.5 bundled filament profiles (PrusaResearch.ini, config 1.5.1): filament_density"


@dataclass(frozen=True)
class Material:
    name: str
    aliases: tuple[str, ...]
    density_g_cm3: float
    source: str
    kind: str  # "filament", "resin", "powder" or "sheet": what a rate card prices it by


VOCABULARY: tuple[Material, ...] = (
    Material("PLA", ("polylactic acid", "polylactide", "pla+"), 1.24, PRUSASLICER + " (Generic PLA)", "filament"),
    Material("PETG", ("pet-g", "polyethylene terephthalate glycol"), 1.27,
             PRUSASLICER + " (Generic PETG)", "filament"),
    Material("ABS", ("acrylonitrile butadiene styrene",), 1.04, PRUSASLICER + " (Generic ABS)", "filament"),
    Material("ASA", ("acrylonitrile styrene acrylate",), 1.07, PRUSASLICER + " (Prusament ASA)", "filament"),
    Material("TPU", ("flex", "thermoplastic polyurethane"), 1.22, PRUSASLICER + " (Generic FLEX)",
             "filament"),
    Material("PC", ("polycarbonate",), 1.22, PRUSASLICER + " (Prusament PC Blend)", "filament"),
    Material("Nylon", ("pa", "pa12", "pa-12", "polyamide", "polyamide 12", "nylon 12"), 1.01,
             PRUSASLICER + " (Fiberlogy Nylon PA12)", "filament"),
    Material("PA12 powder", ("pa12 sls", "pa 2200", "sls nylon"), 0.93,
             "EOS PA 2200 material data sheet: density of a laser-sintered part", "powder"),
    Material("Resin", ("standard resin", "photopolymer", "photopolymer resin", "uv resin"), 1.10,
             "assumed typical cured photopolymer (resin makers' data sheets give about 1.05-1.20)", "resin"),
    Material("Plywood", ("birch plywood", "ply", "poplar plywood"), 0.68,
             "typical birch plywood (plywood makers' handbooks give 630-720 kg/m3)", "sheet"),
    Material("MDF", ("medium-density fibreboard", "medium density fiberboard"), 0.75,
             "typical MDF (EN 316 range 650-800 kg/m3)", "sheet"),
    Material("Acrylic", ("pmma", "plexiglas", "perspex", "poly(methyl methacrylate)"), 1.19,
             "cast PMMA (PLEXIGLAS GS data sheet: 1.19 g/cm3)", "sheet"),
    Material("Cardboard", ("corrugated cardboard", "carton"), 0.12, "typical corrugated board", "sheet"),
)

_BY_NAME = {m.name.lower(): m for m in VOCABULARY}
_BY_NAME.update({alias: m for m in VOCABULARY for alias in m.aliases})


def _key(name: str) -> str:
    return " ".join(name.strip().lower().split())


def lookup(name: str) -> Material | None:
    """The vocabulary entry for a name or alias (case and spacing ignored), or None."""
    return _BY_NAME.get(_key(name))


def canonical(name: str) -> str:
    """The canonical name (``"polylactic acid"`` -> ``"PLA"``); unknown names come back trimmed as written."""
    known = lookup(name)
    return known.name if known is not None else " ".join(name.strip().split())


def same(a: str, b: str) -> bool:
    """Whether two names mean one material: by the vocabulary, else case-insensitively."""
    return _key(canonical(a)) == _key(canonical(b))


def density(name: str) -> Material | None:
    """The entry carrying the density (g/cm3) and its source; None for free-text materials."""
    return lookup(name)
