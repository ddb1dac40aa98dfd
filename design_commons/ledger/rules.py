"""The ledger's rule sets: one TOML file per version, shipped in ``rulesets/``, each known by its sha256.

A rule set says how much of a received order's price is contributed to the commons (by licence and
lab kind), what the lab gets for a complete build report, how much each design passes to the designs
it was derived from, and how many generations deep. Numbers are decimal strings read as exact
fractions; a float in a rule file is refused.
"""
from __future__ import annotations

import hashlib
import tomllib
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from fractions import Fraction
from pathlib import Path
from typing import Any

RULESETS = Path(__file__).with_name("rulesets")


class RuleError(ValueError):
    """A rule file that cannot be used (malformed, a float, a version that does not match its name)."""


def _fraction(raw: Any, where: str, lo: Fraction = Fraction(0), hi: Fraction | None = None) -> Fraction:
    if not isinstance(raw, str):
        raise RuleError(f"{where} must be a decimal string, not {type(raw).__name__}")
    try:
        value = Fraction(Decimal(raw))
    except (InvalidOperation, ValueError):
        raise RuleError(f"{where} is not a decimal number: {raw!r}") from None
    if value < lo or (hi is not None and value > hi):
        raise RuleError(f"{where} = {raw} is out of range")
    return value


@dataclass(frozen=True)
class RuleSet:
    """One version of the rules. ``percent`` values are in percent (5 means 5 %); shares are fractions."""

    version: int
    sha256: str
    default_percent: Fraction
    percent_by_lab_kind: dict[str, Fraction]
    percent_by_licence: dict[str, dict[str, Fraction]]
    lab_share: Fraction
    pass_up: Fraction
    max_generations: int
    raw: dict[str, Any] = field(repr=False, compare=False, default_factory=dict)

    @classmethod
    def from_bytes(cls, data: bytes, source: str = "rule file") -> RuleSet:
        try:
            doc = tomllib.loads(data.decode("utf-8"))
        except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            raise RuleError(f"{source}: {exc}") from None
        version = doc.get("version")
        if not isinstance(version, int) or isinstance(version, bool) or version < 1:
            raise RuleError(f"{source}: version must be a positive integer")
        generations = doc.get("max_generations")
        if not isinstance(generations, int) or isinstance(generations, bool) or not 0 <= generations <= 64:
            raise RuleError(f"{source}: max_generations must be an integer from 0 to 64")
        percents = doc.get("contribution_percent")
        if not isinstance(percents, dict):
            raise RuleError(f"{source}: [contribution_percent] is missing")
        hundred = Fraction(100)
        by_kind = {k: _fraction(v, f"contribution_percent.lab_kind.{k}", hi=hundred)
                   for k, v in (percents.get("lab_kind") or {}).items()}
        by_licence = {lic: {k: _fraction(v, f"contribution_percent.licence.{lic}.{k}", hi=hundred) for k, v in t.items()}
                      for lic, t in (percents.get("licence") or {}).items()}
        return cls(version=version, sha256=hashlib.sha256(data).hexdigest(),
                   default_percent=_fraction(percents.get("default"), "contribution_percent.default", hi=hundred),
                   percent_by_lab_kind=by_kind, percent_by_licence=by_licence,
                   lab_share=_fraction(doc.get("lab_share"), "lab_share", hi=Fraction(1)),
                   pass_up=_fraction(doc.get("pass_up"), "pass_up", hi=Fraction(1)),
                   max_generations=generations, raw=doc)

    def percent(self, licence: str, lab_kind: str) -> Fraction:
        """The contribution percent for an order of a design under ``licence`` made by a lab of ``lab_kind``."""
        by_licence = self.percent_by_licence.get(licence)
        if by_licence is not None:
            if lab_kind in by_licence:
                return by_licence[lab_kind]
            if "default" in by_licence:
                return by_licence["default"]
        return self.percent_by_lab_kind.get(lab_kind, self.default_percent)

    def public(self) -> dict[str, Any]:
        """The rule set as ``GET /api/v1/ledger/rules`` answers it: decimal strings, never floats."""
        percents = self.raw["contribution_percent"]
        return {"version": self.version, "sha256": self.sha256,
                "contribution_percent": {"default": percents["default"], "lab_kind": dict(percents.get("lab_kind") or {}),
                                         "licence": {k: dict(v) for k, v in (percents.get("licence") or {}).items()}},
                "lab_share": self.raw["lab_share"], "pass_up": self.raw["pass_up"],
                "max_generations": self.max_generations}


class RuleBook:
    """Every rule version known, by number; the newest is the one in force."""

    def __init__(self, rule_sets: list[RuleSet]) -> None:
        if not rule_sets:
            raise RuleError("no rule set")
        self.by_version = {r.version: r for r in rule_sets}
        if len(self.by_version) != len(rule_sets):
            raise RuleError("two rule files share a version")

    @classmethod
    def shipped(cls, folder: Path = RULESETS) -> RuleBook:
        """The rule sets shipped with the package (``rulesets/<version>.toml``)."""
        sets = []
        for path in sorted(folder.glob("*.toml")):
            rule_set = RuleSet.from_bytes(path.read_bytes(), path.name)
            if path.stem != str(rule_set.version):
                raise RuleError(f"{path.name} says version {rule_set.version}")
            sets.append(rule_set)
        return cls(sets)

    @property
    def in_force(self) -> RuleSet:
        return self.by_version[max(self.by_version)]

    def get(self, version: int, sha256: str | None = None) -> RuleSet:
        """The rule set of ``version``; RuleError when unknown or when its sha256 is not ``sha256``."""
        rule_set = self.by_version.get(version)
        if rule_set is None:
            raise RuleError(f"no rule set of version {version}")
        if sha256 is not None and rule_set.sha256 != sha256:
            raise RuleError(f"rule set {version} has sha256 {rule_set.sha256}, not {sha256}")
        return rule_set

    def with_version(self, rule_set: RuleSet) -> RuleBook:
        return RuleBook([*self.by_version.values(), rule_set])
