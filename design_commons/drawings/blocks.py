"""Bounds on block references: count model-space entities with INSERTs expanded, before expanding.

A small file can reference a block that references a block ... (a "billion laughs" of
INSERTs), or a block that contains itself. Both are refused here with LimitExceeded,
from block definitions only, so no geometry is built for a file that would be too large.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from ezdxf.document import Drawing
from ezdxf.entities import DXFEntity

from design_commons.limits import Limits
from design_commons.reports import LimitExceeded

#: Deepest nesting of block references that is expanded.
MAX_BLOCK_DEPTH = 16


@dataclass(frozen=True)
class _BlockSize:
    entities: int  # entities one reference expands to, nested references expanded
    depth: int  # nesting levels below this block


def insert_multiplicity(insert: DXFEntity) -> int:
    """How many copies one INSERT places: rows x columns for a MINSERT, else 1."""
    rows = int(insert.dxf.get("row_count", 1) or 1)
    cols = int(insert.dxf.get("column_count", 1) or 1)
    return max(rows, 1) * max(cols, 1)


def expanded_entity_count(doc: Drawing, entities: Iterable[DXFEntity], limits: Limits) -> int:
    """Number of entities in ``entities`` once every INSERT is expanded (INSERTs count too).

    Raises LimitExceeded when the count passes ``limits.max_entities``, when references nest
    deeper than MAX_BLOCK_DEPTH, or when a block references itself (directly or not).
    """
    counter = _Counter(doc, limits.max_entities)
    total = 0
    for entity in entities:
        total += 1
        if entity.dxftype() == "INSERT":
            size = counter.block(str(entity.dxf.get("name", "")), 1)
            total += insert_multiplicity(entity) * size.entities
        counter.check(total)
    return total


class _Counter:
    def __init__(self, doc: Drawing, limit: int) -> None:
        self.doc = doc
        self.limit = limit
        self.sizes: dict[str, _BlockSize] = {}
        self.open: list[str] = []  # the chain of blocks being counted, to spot cycles

    def check(self, total: int) -> None:
        if total > self.limit:
            raise LimitExceeded(
                f"The drawing has more than {self.limit:,} entities once its blocks (INSERTs) "
                "are expanded."
            )

    def block(self, name: str, depth: int) -> _BlockSize:
        if name in self.open:
            chain = " -> ".join([*self.open[self.open.index(name):], name])
            raise LimitExceeded(f"Block '{name}' contains itself ({chain}); it cannot be expanded.")
        size = self.sizes.get(name)
        if size is None:
            size = self._measure(name, depth)
            self.sizes[name] = size
        if depth + size.depth > MAX_BLOCK_DEPTH:
            raise LimitExceeded(
                f"Blocks are nested more than {MAX_BLOCK_DEPTH} levels deep (block '{name}')."
            )
        return size

    def _measure(self, name: str, depth: int) -> _BlockSize:
        if depth > MAX_BLOCK_DEPTH:
            raise LimitExceeded(
                f"Blocks are nested more than {MAX_BLOCK_DEPTH} levels deep (block '{name}')."
            )
        layout = self.doc.blocks.get(name)
        if layout is None:  # a reference to a missing block places nothing
            return _BlockSize(0, 0)
        self.open.append(name)
        try:
            total, deepest = 0, 0
            for entity in layout:
                total += 1
                if entity.dxftype() == "INSERT":
                    child = self.block(str(entity.dxf.get("name", "")), depth + 1)
                    total += insert_multiplicity(entity) * child.entities
                    deepest = max(deepest, child.depth + 1)
                self.check(total)
        finally:
            self.open.pop()
        return _BlockSize(total, deepest)
