"""Licences the commons accepts, by SPDX id, and the ones it refuses, with reasons.

The commons holds open designs only: anyone may make, change and share them, and a fablab
may be paid to make them. :func:`check_open` is the gate a design's licence passes at
publication; :func:`excluded_lab_kinds` tells matching which kinds of lab a licence keeps
out (the Peer Production License lets cooperatives, collectives and non-profits sell the
things they make, but not companies).

Ids are SPDX licence identifiers (https://spdx.org/licenses/), matched case-insensitively;
the Peer Production License, which SPDX does not list, is ``LicenseRef-PPL``.

Example::

    >>> check_open("cern-ohl-s-2.0").id
    'CERN-OHL-S-2.0'
    >>> check_open("CC-BY-NC-4.0")
    Traceback (most recent call last):
    LicenceRefused: CC-BY-NC-4.0 forbids commercial use, ...
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Literal

LicenceKind = Literal["hardware", "content", "software"]

#: Kinds of fablab (see DESIGN.md); licences may exclude some of them.
LAB_KINDS: frozenset[str] = frozenset(
    {"fablab", "makerspace", "cooperative", "nonprofit", "company", "individual"}
)

# Stable codes of LicenceRefused, also used as problem+json "code" by the hub.
NON_COMMERCIAL = "licence_non_commercial"
NO_DERIVATIVES = "licence_no_derivatives"
NOT_OPEN = "licence_not_open"
UNKNOWN = "licence_unknown"

_COMMONS = "the commons holds open designs only"


class LicenceRefused(ValueError):
    """A licence the commons does not accept.

    ``code`` is one of ``licence_non_commercial``, ``licence_no_derivatives``,
    ``licence_not_open``, ``licence_unknown``; ``reason`` says why in plain words;
    ``spdx_id`` is the id as given.
    """

    def __init__(self, code: str, reason: str, spdx_id: str = "") -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason
        self.spdx_id = spdx_id


@dataclass(frozen=True)
class License:
    """One licence.

    ``open``: the commons accepts it. ``commercial_use``: anyone may sell what they make
    with it. ``share_alike``: changed versions must carry the same (or a compatible)
    licence. ``excluded_lab_kinds``: kinds of lab that may not make it for pay.
    ``summary``: one plain sentence for a licence picker.
    """

    id: str
    name: str
    url: str
    open: bool
    commercial_use: bool
    share_alike: bool
    kind: LicenceKind
    summary: str
    excluded_lab_kinds: frozenset[str] = field(default_factory=frozenset)

    def to_api(self) -> dict[str, Any]:
        """The licence as the API shows it inside a design (see API.md)."""
        return {
            "id": self.id,
            "name": self.name,
            "open": self.open,
            "commercial_use": self.commercial_use,
            "share_alike": self.share_alike,
            "url": self.url,
            "summary": self.summary,
            "kind": self.kind,
        }


@dataclass(frozen=True)
class RefusedLicence:
    """A family of licences the commons refuses (``pattern`` is for people, e.g. ``CC-BY-NC-*``)."""

    pattern: str
    code: str
    reason: str


def _spdx(spdx_id: str) -> str:
    return f"https://spdx.org/licenses/{spdx_id}.html"


def _lic(
    spdx_id: str, name: str, kind: LicenceKind, share_alike: bool, summary: str
) -> License:
    return License(spdx_id, name, _spdx(spdx_id), True, True, share_alike, kind, summary)


_SA_HW = "changed versions of the design must be shared under the same licence"
_GPL = "changed versions must stay under the GPL with their source"
_LGPL = "changes to it must stay under the LGPL, but it may be combined with other work"
_PERMISSIVE = "anyone may make, change and sell it, keeping the copyright notice"

_OPEN: tuple[License, ...] = (
    _lic("CERN-OHL-S-2.0", "CERN Open Hardware Licence Version 2 - Strongly Reciprocal",
         "hardware", True,
         f"Anyone may make, change and sell the hardware; {_SA_HW}, "
         "including the parts it is built with."),
    _lic("CERN-OHL-W-2.0", "CERN Open Hardware Licence Version 2 - Weakly Reciprocal",
         "hardware", True,
         "Anyone may make, change and sell the hardware; changes to the design itself must be "
         "shared under the same licence, but it may be combined with closed parts."),
    _lic("CERN-OHL-P-2.0", "CERN Open Hardware Licence Version 2 - Permissive",
         "hardware", False,
         "Anyone may make, change and sell the hardware, even in closed products, "
         "keeping the notices."),
    _lic("CERN-OHL-1.2", "CERN Open Hardware Licence v1.2", "hardware", True,
         f"Anyone may make, change and sell the hardware; {_SA_HW} and the licensor told of them."),
    _lic("TAPR-OHL-1.0", "TAPR Open Hardware License v1.0", "hardware", True,
         f"Anyone may make, change and sell the hardware; {_SA_HW}."),
    _lic("SHL-0.5", "Solderpad Hardware License v0.5", "hardware", False,
         f"A permissive hardware licence: {_PERMISSIVE} and stating changes."),
    _lic("SHL-0.51", "Solderpad Hardware License, Version 0.51", "hardware", False,
         f"A permissive hardware licence: {_PERMISSIVE} and stating changes."),
    _lic("SHL-2.0", "Solderpad Hardware License v2.0", "hardware", False,
         f"A permissive hardware licence with a patent grant: {_PERMISSIVE}."),
    _lic("SHL-2.1", "Solderpad Hardware License v2.1", "hardware", False,
         f"A permissive hardware licence with a patent grant: {_PERMISSIVE}."),
    _lic("CC-BY-4.0", "Creative Commons Attribution 4.0 International", "content", False,
         "Anyone may make, change and sell it, as long as they credit the designer."),
    _lic("CC-BY-SA-4.0", "Creative Commons Attribution Share Alike 4.0 International",
         "content", True,
         "Anyone may make, change and sell it, crediting the designer and sharing changed "
         "versions under the same licence."),
    _lic("CC-BY-3.0", "Creative Commons Attribution 3.0 Unported", "content", False,
         "Anyone may make, change and sell it, as long as they credit the designer."),
    _lic("CC-BY-SA-3.0", "Creative Commons Attribution Share Alike 3.0 Unported", "content", True,
         "Anyone may make, change and sell it, crediting the designer and sharing changed "
         "versions under the same licence."),
    _lic("CC0-1.0", "Creative Commons Zero v1.0 Universal", "content", False,
         "Given to the public domain: anyone may do anything with it, no credit needed."),
    _lic("GPL-2.0-only", "GNU General Public License v2.0 only", "software", True,
         f"Anyone may make, change and sell it; {_GPL}, version 2 only."),
    _lic("GPL-2.0-or-later", "GNU General Public License v2.0 or later", "software", True,
         f"Anyone may make, change and sell it; {_GPL} (version 2 or later)."),
    _lic("GPL-3.0-only", "GNU General Public License v3.0 only", "software", True,
         f"Anyone may make, change and sell it; {_GPL}, version 3 only."),
    _lic("GPL-3.0-or-later", "GNU General Public License v3.0 or later", "software", True,
         f"Anyone may make, change and sell it; {_GPL} (version 3 or later)."),
    _lic("AGPL-3.0-or-later", "GNU Affero General Public License v3.0 or later", "software", True,
         f"Anyone may make, change and sell it; {_GPL}, also when offered over a network."),
    _lic("LGPL-2.1-only", "GNU Lesser General Public License v2.1 only", "software", True,
         f"Anyone may make, change and sell it; {_LGPL}."),
    _lic("LGPL-2.1-or-later", "GNU Lesser General Public License v2.1 or later", "software", True,
         f"Anyone may make, change and sell it; {_LGPL}."),
    _lic("LGPL-3.0-only", "GNU Lesser General Public License v3.0 only", "software", True,
         f"Anyone may make, change and sell it; {_LGPL}."),
    _lic("LGPL-3.0-or-later", "GNU Lesser General Public License v3.0 or later", "software", True,
         f"Anyone may make, change and sell it; {_LGPL}."),
    _lic("MPL-2.0", "Mozilla Public License 2.0", "software", True,
         "Anyone may make, change and sell it; changed files must stay under the MPL, "
         "other files may use any licence."),
    _lic("MIT", "MIT License", "software", False,
         f"A short permissive licence: {_PERMISSIVE}."),
    _lic("BSD-2-Clause", 'BSD 2-Clause "Simplified" License', "software", False,
         f"A short permissive licence: {_PERMISSIVE}."),
    _lic("BSD-3-Clause", 'BSD 3-Clause "New" or "Revised" License', "software", False,
         f"A permissive licence: {_PERMISSIVE}, without using the authors' names to promote it."),
    _lic("Apache-2.0", "Apache License 2.0", "software", False,
         f"A permissive licence with a patent grant: {_PERMISSIVE} and stating changes."),
    _lic("Unlicense", "The Unlicense", "software", False,
         "Given to the public domain: anyone may do anything with it, no credit needed."),
    License(
        "LicenseRef-PPL", "Peer Production License",
        "https://wiki.p2pfoundation.net/Peer_Production_License",
        open=True, commercial_use=False, share_alike=True, kind="content",
        summary="Anyone may make, change and share it under the same licence; only cooperatives, "
        "collectives and non-profits may sell what they make, companies may not.",
        excluded_lab_kinds=frozenset({"company"}),
    ),
)

_BY_KEY: dict[str, License] = {lic.id.casefold(): lic for lic in _OPEN}

# Older or informal spellings of ids in the registry.
_ALIASES: dict[str, str] = {
    "gpl-2.0": "GPL-2.0-only",
    "gpl-2.0+": "GPL-2.0-or-later",
    "gpl-3.0": "GPL-3.0-only",
    "gpl-3.0+": "GPL-3.0-or-later",
    "agpl-3.0": "AGPL-3.0-or-later",
    "lgpl-2.1": "LGPL-2.1-only",
    "lgpl-2.1+": "LGPL-2.1-or-later",
    "lgpl-3.0": "LGPL-3.0-only",
    "lgpl-3.0+": "LGPL-3.0-or-later",
    "ppl": "LicenseRef-PPL",
    "peer production license": "LicenseRef-PPL",
}

# CC-BY-NC-4.0, CC-BY-NC-SA-3.0-DE, CC-BY-ND-2.5, CC-BY-NC-ND-3.0-IGO, ...
_CC_RESTRICTED = re.compile(r"^cc-by-(nc-sa|nc-nd|nc|nd)-(\d\.\d)(-[a-z]+)?$")
_CC_NAMES = {
    "nc": "Non Commercial", "nc-sa": "Non Commercial Share Alike",
    "nd": "No Derivatives", "nc-nd": "Non Commercial No Derivatives",
}
_CC_PATHS = {"nc": "by-nc", "nc-sa": "by-nc-sa", "nd": "by-nd", "nc-nd": "by-nc-nd"}

_NOT_OPEN_WORDS = frozenset(
    {
        "proprietary", "all rights reserved", "allrightsreserved", "copyright",
        "none", "noassertion", "licenseref-none", "licenseref-noassertion",
        "licenseref-proprietary", "licenseref-allrightsreserved",
    }
)

REFUSED: tuple[RefusedLicence, ...] = (
    RefusedLicence("CC-BY-NC-*", NON_COMMERCIAL,
                   "forbids commercial use, so no fablab could be paid to make it"),
    RefusedLicence("CC-BY-NC-SA-*", NON_COMMERCIAL,
                   "forbids commercial use, so no fablab could be paid to make it"),
    RefusedLicence("CC-BY-NC-ND-*", NON_COMMERCIAL,
                   "forbids commercial use and changes, so no fablab could be paid to make it "
                   "and nobody may adapt it"),
    RefusedLicence("CC-BY-ND-*", NO_DERIVATIVES,
                   "forbids changed versions, so nobody may adapt or remix the design"),
    RefusedLicence("proprietary / all rights reserved / NONE / NOASSERTION", NOT_OPEN,
                   "keeps all rights with the owner, so nobody may make, change or share it"),
    RefusedLicence("any id not in the registry", UNKNOWN,
                   "is not a licence the commons knows, so it cannot tell whether it is open"),
)


def _cc_restricted(key: str) -> License | None:
    match = _CC_RESTRICTED.match(key)
    if not match:
        return None
    variant, version, port = match.group(1), match.group(2), match.group(3) or ""
    spdx_id = f"CC-BY-{variant.upper()}-{version}{port.upper()}"
    commercial = not variant.startswith("nc")
    derivatives = not variant.endswith("nd")
    if not commercial and not derivatives:
        summary = "Others may share it unchanged for non-commercial purposes only."
    elif not commercial:
        summary = "Others may make and change it for non-commercial purposes only."
    else:
        summary = "Others may make, share and sell it, but only unchanged."
    return License(
        spdx_id,
        f"Creative Commons Attribution {_CC_NAMES[variant]} {version}",
        f"https://creativecommons.org/licenses/{_CC_PATHS[variant]}/{version}/",
        open=False,
        commercial_use=commercial,
        share_alike=variant == "nc-sa",
        kind="content",
        summary=summary,
        excluded_lab_kinds=frozenset() if commercial else frozenset({"company"}),
    )


def lookup(spdx_id: str) -> License:
    """The licence named by ``spdx_id`` (case-insensitive), with its canonical id.

    Known but refused licences (``CC-BY-NC-4.0``, ``CC-BY-ND-4.0``, ...) are returned with
    ``open=False``: use :func:`check_open` to gate publication.

    Raises :class:`LicenceRefused` with code ``licence_not_open`` for "proprietary",
    "all rights reserved" and the like, ``licence_unknown`` for anything else.
    """
    given = (spdx_id or "").strip()
    key = given.casefold()
    if key in _BY_KEY:
        return _BY_KEY[key]
    if key in _ALIASES:
        return _BY_KEY[_ALIASES[key].casefold()]
    restricted = _cc_restricted(key)
    if restricted is not None:
        return restricted
    if key in _NOT_OPEN_WORDS:
        shown = given or "no licence"
        raise LicenceRefused(
            NOT_OPEN,
            f"{shown!r} keeps all rights with the owner, so nobody may make, change or share "
            f"the design; {_COMMONS}.",
            given,
        )
    shown = repr(given) if given else "An empty licence"
    raise LicenceRefused(
        UNKNOWN,
        f"{shown} is not a licence the commons knows, so it cannot tell whether the design is "
        f"open; {_COMMONS}: choose one by its SPDX id, e.g. CERN-OHL-S-2.0, CC-BY-SA-4.0 or MIT.",
        given,
    )


def check_open(spdx_id: str) -> License:
    """The licence named by ``spdx_id`` if the commons accepts it.

    Raises :class:`LicenceRefused` (codes ``licence_non_commercial``,
    ``licence_no_derivatives``, ``licence_not_open``, ``licence_unknown``) with a plain
    message saying why, e.g. "CC-BY-NC-4.0 forbids commercial use, so no fablab could be
    paid to make it; the commons holds open designs only."
    """
    lic = lookup(spdx_id)
    if lic.open:
        return lic
    if not lic.commercial_use:
        also = " (and forbids changed versions)" if lic.id.startswith("CC-BY-NC-ND") else ""
        raise LicenceRefused(
            NON_COMMERCIAL,
            f"{lic.id} forbids commercial use{also}, so no fablab could be paid to make it; "
            f"{_COMMONS}.",
            spdx_id,
        )
    if lic.id.startswith("CC-BY-ND"):
        raise LicenceRefused(
            NO_DERIVATIVES,
            f"{lic.id} forbids changed versions, so nobody may adapt or remix the design; "
            f"{_COMMONS}.",
            spdx_id,
        )
    raise LicenceRefused(NOT_OPEN, f"{lic.id} is not an open licence; {_COMMONS}.", spdx_id)


def excluded_lab_kinds(license: License | str) -> set[str]:
    """Kinds of lab (see :data:`LAB_KINDS`) that may not be paid to make a design under ``license``.

    Non-commercial licences and the Peer Production License exclude ``"company"``.
    A string is looked up first (so it may raise :class:`LicenceRefused` for unknown ids).
    """
    lic = lookup(license) if isinstance(license, str) else license
    kinds = set(lic.excluded_lab_kinds)
    if not lic.commercial_use:
        kinds.add("company")
    return kinds


def all_licences(include_refused: bool = False) -> list[License]:
    """Licences for a picker: the open ones in registry order (hardware first).

    With ``include_refused``, the 4.0 versions of the refused Creative Commons licences
    follow, marked ``open=False``.
    """
    out = list(_OPEN)
    if include_refused:
        out += [lic for v in _CC_NAMES if (lic := _cc_restricted(f"cc-by-{v}-4.0"))]
    return out


def refused_licences() -> list[RefusedLicence]:
    """The families of licences the commons refuses, with a code and a reason each."""
    return list(REFUSED)
