"""The clean DXF a lab receives, and the segments for a drawing's thumbnail.

The canonical file is DXF R2010 in millimetres ($INSUNITS = 4) holding only what was found in
model space: one LWPOLYLINE per contour and CIRCLEs on layer ``CUT``, texts on layer
``ENGRAVE``. Coordinates are kept where the designer put them.
"""
from __future__ import annotations

import io
import itertools
import math
from collections.abc import Iterator

import ezdxf
import numpy as np
import orjson
from ezdxf import units

from design_commons.drawings.contours import Packed
from design_commons.drawings.flatten import TextItem

CUT_LAYER = "CUT"
ENGRAVE_LAYER = "ENGRAVE"
#: Most segments in a preview; longer polylines are thinned to stay under it.
MAX_PREVIEW_SEGMENTS = 200_000
_CIRCLE_PREVIEW_SEGMENTS = 64


def write_canonical(
    blocks: list[Packed],
    circles: list[tuple[float, float, float]],
    texts: list[TextItem],
    consume: bool = False,
) -> bytes:
    """A DXF R2010 document (UTF-8 bytes) in mm with the given cut geometry and texts.

    ezdxf builds and writes the document (header, tables, texts); the cut entities, which may
    number hundreds of thousands, are written as DXF text straight into its ENTITIES section
    with handles reserved from the document, which is many times faster than entity objects.
    They are written one by one into the output buffer, so the file is held once; with
    ``consume`` each block of contours is let go of (removed from ``blocks``) once written.
    """
    doc = ezdxf.new("R2010", setup=False)
    doc.units = units.MM
    doc.header["$MEASUREMENT"] = 1
    doc.header["$LUNITS"] = 2  # decimal
    doc.layers.add(CUT_LAYER, color=1)
    doc.layers.add(ENGRAVE_LAYER, color=5)
    msp = doc.modelspace()
    for item in texts:
        _add_text(msp, item)
    first = int(doc.entitydb.handles.next(), 16)
    contours = sum(len(block.sizes) for block in blocks)
    doc.entitydb.handles.reset(f"{first + contours + len(circles):X}")  # $HANDSEED past ours
    owner = msp.layout_key
    handles = (f"{h:X}" for h in itertools.count(first))
    stream = io.StringIO()
    doc.write(stream)
    text = stream.getvalue()
    section = text.index("\n  2\nENTITIES\n")
    end = text.index("  0\nENDSEC\n", section)
    out = io.BytesIO()
    out.write(text[:end].encode("utf-8"))
    for block in (_taken(blocks) if consume else blocks):
        _write_block(out, block, handles, owner)
    for circle in circles:
        out.write(_circle(circle, next(handles), owner).encode("ascii"))
    out.write(text[end:].encode("utf-8"))
    return out.getvalue()


#: Points formatted at once: enough for orjson to pay, few enough that the text is not held twice.
_RUN_POINTS = 2048


def _write_block(out: io.BytesIO, block: Packed, handles: Iterator[str], owner: str) -> None:
    """The block's contours as LWPOLYLINEs, formatted a run of contours (``_RUN_POINTS``) at a time."""
    starts, sizes, closed = block.starts.tolist(), block.sizes.tolist(), block.closed.tolist()
    first = 0
    while first < len(starts):
        last, held = first, 0
        while last < len(starts) and held < _RUN_POINTS:
            held += sizes[last]
            last += 1
        base = starts[first]  # the contours lie end to end in the block
        numbers = float_reprs(block.points[base:starts[last - 1] + sizes[last - 1]].ravel())
        out.write("".join([
            _lwpolyline(numbers[2 * (start - base):2 * (start - base + size)], flag, next(handles), owner)
            for start, size, flag in zip(starts[first:last], sizes[first:last], closed[first:last], strict=True)
        ]).encode("ascii"))
        first = last


def _taken(blocks: list[Packed]) -> Iterator[Packed]:
    while blocks:
        yield blocks.pop(0)


def _head(kind: str, handle: str, owner: str, subclass: str) -> str:
    return f"  0\n{kind}\n  5\n{handle}\n330\n{owner}\n100\nAcDbEntity\n  8\n{CUT_LAYER}\n100\n{subclass}\n"


def _lwpolyline(numbers: list[str], closed: bool, handle: str, owner: str) -> str:
    """An LWPOLYLINE of the points whose x, y, x, y ... are ``numbers`` (as written)."""
    count = len(numbers) // 2
    coords = (" 10\n%s\n 20\n%s\n" * count) % tuple(numbers)
    flags = 1 if closed else 0
    return f"{_head('LWPOLYLINE', handle, owner, 'AcDbPolyline')} 90\n{count}\n 70\n{flags}\n{coords}"


def float_reprs(values: np.ndarray) -> list[str]:
    """``repr`` of each of the finite float64 ``values`` (1-D): the shortest decimals that read back
    as the same number, written as Python writes them, character for character.

    orjson formats the whole array at once (shortest round-trip digits, as ``repr``), several
    times faster than ``repr`` one number at a time; it writes exponents differently from Python
    (``1e-5`` for ``1e-05``, ``0.00002`` for ``2e-05``), so the numbers Python writes with an
    exponent (nonzero magnitudes below 1e-4, and from 1e16 up) are written by ``repr``.
    """
    if not len(values):
        return []
    numbers = orjson.dumps(values, option=orjson.OPT_SERIALIZE_NUMPY)[1:-1].decode("ascii").split(",")
    magnitude = np.abs(values)
    exponent = ((magnitude < 1e-4) & (magnitude != 0)) | (magnitude >= 1e16)
    for index in np.flatnonzero(exponent).tolist():
        numbers[index] = repr(float(values[index]))
    return numbers


def _circle(circle: tuple[float, float, float], handle: str, owner: str) -> str:
    cx, cy, r = (float(v) for v in circle)
    return f"{_head('CIRCLE', handle, owner, 'AcDbCircle')} 10\n{cx!r}\n 20\n{cy!r}\n 30\n0.0\n 40\n{r!r}\n"


def _add_text(msp: ezdxf.layouts.Modelspace, item: TextItem) -> None:
    attribs = {"layer": ENGRAVE_LAYER}
    if item.kind == "MTEXT":
        mtext = msp.add_mtext(item.text, dxfattribs={
            **attribs,
            "insert": item.insert,
            "char_height": max(item.height, 1e-6),
            "attachment_point": item.attachment,
        })
        if item.width > 0:
            mtext.dxf.width = item.width
        if item.rotation:
            mtext.set_rotation(item.rotation)
        return
    text = msp.add_text(item.text, height=max(item.height, 1e-6), rotation=item.rotation, dxfattribs={
        **attribs,
        "insert": item.insert,
    })
    if (item.halign or item.valign) and item.align_point is not None:
        text.dxf.halign = item.halign
        text.dxf.valign = item.valign
        text.dxf.align_point = item.align_point


def preview_segments(blocks: list[Packed], circles: list[tuple[float, float, float]]) -> np.ndarray:
    """Line segments of the cut geometry, float32 ``(m, 2, 2)`` in mm, m <= MAX_PREVIEW_SEGMENTS.

    Past the limit every contour keeps every ``stride``-th point and its last one; each circle
    is a polygon of 64 sides (fewer, by the stride). Built with index arithmetic over a block of
    contours at a time, into an array of the final size.
    """
    total = sum(int(block.sizes.sum()) for block in blocks) + _CIRCLE_PREVIEW_SEGMENTS * len(circles)
    stride = max(1, math.ceil(total / MAX_PREVIEW_SEGMENTS))
    steps = max(4, _CIRCLE_PREVIEW_SEGMENTS // stride)
    counts = [int(np.maximum(_preview_counts(block, stride)[2] - 1, 0).sum()) for block in blocks]
    out = np.empty((min(sum(counts) + steps * len(circles), MAX_PREVIEW_SEGMENTS), 2, 2), dtype=np.float32)
    filled = 0
    for block, count in zip(blocks, counts, strict=True):
        if filled == len(out):
            break
        order = _preview_order(block, stride)
        inside = _inside(block, order, stride)
        points = block.points.astype(np.float32)  # as casting the float64 segments afterwards
        take = min(count, len(out) - filled)
        out[filled:filled + take, 0] = points[order[:-1][inside][:take]]
        out[filled:filled + take, 1] = points[order[1:][inside][:take]]
        filled += take
    if circles and filled < len(out):
        angle = np.linspace(0.0, 2.0 * math.pi, steps + 1)
        ring = np.stack([np.cos(angle), np.sin(angle)], axis=1)
        values = np.array(circles, dtype=float)
        for first in range(0, len(values), 4096):
            chunk = values[first:first + 4096]
            rings = ring[None, :, :] * chunk[:, 2, None, None] + chunk[:, None, :2]
            segments = np.stack([rings[:, :-1], rings[:, 1:]], axis=2).reshape(-1, 2, 2)
            take = min(len(segments), len(out) - filled)
            out[filled:filled + take] = segments[:take]
            filled += take
            if filled == len(out):
                break
    return out


def _preview_counts(packed: Packed, stride: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per contour: points kept by the stride, whether its last point is added again, and its size in the preview."""
    sizes = packed.sizes
    thin = (sizes > 2) & (stride > 1)
    kept = np.where(thin, (sizes + stride - 1) // stride, sizes)
    return kept, thin, kept + thin + packed.closed


def _preview_order(packed: Packed, stride: int) -> np.ndarray:
    """Point indices of the preview's polylines, contour after contour: every ``stride``-th point
    and the last (contours of more than 2 points, when thinned), then the first again when closed."""
    kept, thin, length = _preview_counts(packed, stride)
    offsets = np.cumsum(length) - length
    order = np.empty(int(length.sum()), dtype=np.int64)
    owner = np.repeat(np.arange(len(kept)), kept)
    rank = np.arange(len(owner)) - np.repeat(np.cumsum(kept) - kept, kept)
    step = np.where(thin, stride, 1)[owner]
    order[offsets[owner] + rank] = packed.starts[owner] + rank * step
    last = packed.starts + packed.sizes - 1
    order[(offsets + kept)[thin]] = last[thin]
    order[(offsets + kept + thin)[packed.closed]] = packed.starts[packed.closed]
    return order


def _inside(packed: Packed, order: np.ndarray, stride: int) -> np.ndarray:
    """Which consecutive pairs of ``order`` lie within one contour."""
    _, _, length = _preview_counts(packed, stride)
    inside = np.ones(max(len(order) - 1, 0), dtype=bool)
    ends = np.cumsum(length) - 1
    ends = ends[(length > 0) & (ends < len(inside))]
    inside[ends] = False
    return inside


def text_boxes(texts: list[TextItem]) -> np.ndarray:
    """The outline of each text's extents as segments, float32 ``(4 k, 2, 2)`` in mm.

    The preview of an engraving-only drawing: where each text sits and how large it is.
    """
    pieces = []
    for item in texts:
        if item.extents is None:
            continue
        x0, y0, x1, y1 = item.extents
        corners = np.array([(x0, y0), (x1, y0), (x1, y1), (x0, y1), (x0, y0)])
        pieces.append(np.stack([corners[:-1], corners[1:]], axis=1))
    if not pieces:
        return np.zeros((0, 2, 2), dtype=np.float32)
    return np.concatenate(pieces)[:MAX_PREVIEW_SEGMENTS].astype(np.float32)
