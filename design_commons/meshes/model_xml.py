"""Fast readers for the bulk of a 3MF model part: ``<vertices>`` and ``<triangles>`` blocks.

A large 3MF is almost all ``<vertex x=".." y=".." z=".."/>`` and ``<triangle v1 v2 v3/>``
elements. Building an element per vertex is what makes general XML readers slow, so these
blocks are cut out of the document (:func:`cut_blocks`) and read with byte operations in C:
``bytes.translate`` to keep the numbers and ``np.fromstring`` to parse them. The fast path
checks its assumptions (one attribute order throughout, no foreign attributes, exact counts)
and falls back to a per-element regex reader when they do not hold, so attribute order and
optional attributes (``p1``/``p2``/``p3``/``pid``) are handled either way.
"""
from __future__ import annotations

import re
import warnings

import numpy as np

from design_commons.reports import UnreadableFile

_OPEN_BLOCK = re.compile(rb"<((?:[A-Za-z_][\w.\-]*:)?(?:vertices|triangles))(\s[^>]*)?(?<!/)>")
_ATTRIBUTE = re.compile(rb"""([\w:.\-]+)\s*=\s*(?:"([^"]*)"|'([^']*)')""")
_OPTIONAL_TRIANGLE_ATTRIBUTES = re.compile(rb"""\s(?:p1|p2|p3|pid)\s*=\s*(?:"[^"]*"|'[^']*')""")
_NUMBER_BYTES = b"0123456789.+-eE"
#: Every byte that is not part of a number becomes a space.
_KEEP_NUMBERS = bytes(b if b in _NUMBER_BYTES else 32 for b in range(256))
_KEEP_NUMBERS_PLAIN = bytes(b if b in b"0123456789.+-" else 32 for b in range(256))
_KEEP_INTEGERS = bytes(b if b in b"0123456789+-" else 32 for b in range(256))
_POWERS_OF_TEN = 10.0 ** np.arange(20)
_V123 = np.array([1, 2, 3], dtype=np.int64)
_NOT_XYZ = bytes(b for b in range(256) if b not in b"xyz")
BLOCK_ATTRIBUTE = "cosmolocblock"


def cut_blocks(xml: bytes) -> tuple[bytes, list[tuple[bytes, bytes]]]:
    """Replace each ``<vertices>``/``<triangles>`` element's content by a reference.

    Returns ``(skeleton, blocks)``: ``skeleton`` is the document with every such element made
    empty and given a ``cosmolocblock="k"`` attribute; ``blocks[k]`` is ``(qualified_name,
    content)``. The skeleton is small and is parsed with a real (defused) XML parser.
    """
    pieces: list[bytes] = []
    blocks: list[tuple[bytes, bytes]] = []
    position = 0
    while True:
        found = _OPEN_BLOCK.search(xml, position)
        if found is None:
            break
        qname = found.group(1)
        close = xml.find(b"</" + qname, found.end())
        if close < 0:
            raise UnreadableFile(f"the <{qname.decode('ascii', 'replace')}> element is never closed")
        close_end = xml.find(b">", close)
        if close_end < 0:
            raise UnreadableFile("the model part ends inside an element")
        opening = xml[found.start():found.end() - 1]
        pieces.append(xml[position:found.start()])
        pieces.append(opening + b' %s="%d"/>' % (BLOCK_ATTRIBUTE.encode(), len(blocks)))
        blocks.append((qname, xml[found.end():close]))
        position = close_end + 1
    pieces.append(xml[position:])
    return b"".join(pieces), blocks


def _prefix(qname: bytes) -> bytes:
    return qname.rsplit(b":", 1)[0] + b":" if b":" in qname else b""


def count_elements(qname: bytes, content: bytes) -> int:
    """Number of ``<vertex>`` (in a vertices block) or ``<triangle>`` elements in ``content``."""
    child = b"vertex" if qname.endswith(b"vertices") else b"triangle"
    return content.count(b"<" + _prefix(qname) + child)


def _parse_numbers(text: bytes, dtype: type, expected: int) -> np.ndarray | None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        try:
            values: np.ndarray = np.fromstring(text, dtype=dtype, sep=" ")  # type: ignore[call-overload]
        except (ValueError, DeprecationWarning):
            return None
    return values if values.size == expected else None


def _parse_decimals(content: bytes, expected: int) -> np.ndarray | None:
    """Quoted plain decimals (``"-12.5"``: a sign, digits, one point, digits) as float64.

    Parsing integers is ~10x cheaper than parsing floats, so the point is dropped, each number
    read as an integer and scaled by the number of digits after its point (found from the
    positions of the point and the closing quote). The result is within one unit in the last
    place of a correctly rounded parse, and identical text always gives identical values.
    None if any number is not of that plain form.
    """
    raw = np.frombuffer(content, dtype=np.uint8)
    quotes = np.flatnonzero(raw == 34)
    points = np.flatnonzero(raw == 46)
    if len(quotes) != 2 * expected or len(points) != expected:
        return None
    opens, closes = quotes[0::2], quotes[1::2]
    if not ((opens < points) & (points < closes)).all():
        return None
    digits = closes - opens - 2 - (raw[opens + 1] == 45)  # minus the point and any sign
    if int(digits.max()) > 18:  # what an int64 holds
        return None
    integers = _parse_numbers(content.translate(_KEEP_INTEGERS, b"."), np.int64, expected)
    if integers is None:
        return None
    return integers / _POWERS_OF_TEN[closes - points - 1]


def read_vertices(qname: bytes, content: bytes, count: int | None = None) -> np.ndarray:
    """Vertices ``(m, 3)`` float64 (model units) of one ``<vertices>`` block.

    ``count`` is the number of ``<vertex>`` elements if the caller already counted them.
    """
    tag = b"<" + _prefix(qname) + b"vertex"
    if count is None:
        count = content.count(tag)
    if count == 0:
        return np.zeros((0, 3), dtype=np.float64)
    vertices = _read_vertices_fast(tag, content, count)
    return vertices if vertices is not None else _read_vertices_slowly(tag, content, count)


def _read_vertices_fast(tag: bytes, content: bytes, count: int) -> np.ndarray | None:
    # The tag name holds an "x" and two "e"s. Without exponents in the numbers, every letter can
    # simply become a space; with them, the tag names must go first (one more pass).
    plain = content.count(b"e") == count * tag.count(b"e") and b"E" not in content
    signature = content.translate(None, _NOT_XYZ)
    marker = tag.count(b"x") + tag.count(b"y") + tag.count(b"z")  # letters of the tag itself
    if len(signature) != (3 + marker) * count:
        return None
    order = signature[marker:marker + 3]
    if sorted(order) != sorted(b"xyz") or signature != signature[:marker + 3] * count or b"&" in content:
        return None
    values = _parse_decimals(content, 3 * count) if plain else None
    if values is not None:
        vertices = values.reshape(count, 3)
        columns = [order.index(axis) for axis in b"xyz"]
        return vertices[:, columns] if columns != [0, 1, 2] else vertices
    body = content if plain else content.replace(tag, b"<")
    values = _parse_numbers(body.translate(_KEEP_NUMBERS_PLAIN if plain else _KEEP_NUMBERS), np.float64, 3 * count)
    if values is None:
        return None
    vertices = values.reshape(count, 3)
    columns = [order.index(axis) for axis in b"xyz"]
    if columns != [0, 1, 2]:
        vertices = vertices[:, columns]
    return vertices if np.isfinite(vertices).all() else None


def _read_vertices_slowly(tag: bytes, content: bytes, count: int) -> np.ndarray:
    vertices = np.empty((count, 3), dtype=np.float64)
    pattern = re.compile(re.escape(tag) + rb"\b([^>]*)>")
    row = 0
    for element in pattern.finditer(content):
        attributes = {m.group(1): m.group(2) if m.group(2) is not None else m.group(3)
                      for m in _ATTRIBUTE.finditer(element.group(1))}
        try:
            vertices[row] = [float(attributes[axis]) for axis in (b"x", b"y", b"z")]
        except KeyError as exc:
            raise UnreadableFile(f"vertex {row} has no {exc.args[0].decode()} coordinate") from exc
        except ValueError as exc:
            raise UnreadableFile(f"vertex {row} has a coordinate that is not a number") from exc
        row += 1
    if row != count:
        raise UnreadableFile("a <vertex> element is malformed")
    if not np.isfinite(vertices).all():
        raise UnreadableFile("some vertex coordinates are not finite numbers")
    return vertices


def read_triangles(qname: bytes, content: bytes, count: int | None = None) -> np.ndarray:
    """Vertex indices ``(k, 3)`` int64 of one ``<triangles>`` block (property indices ignored).

    ``count`` is the number of ``<triangle>`` elements if the caller already counted them.
    """
    tag = b"<" + _prefix(qname) + b"triangle"
    if count is None:
        count = content.count(tag)
    if count == 0:
        return np.zeros((0, 3), dtype=np.int64)
    triangles = _read_triangles_fast(content, count)
    return triangles if triangles is not None else _read_triangles_slowly(tag, content, count)


def _read_triangles_fast(content: bytes, count: int) -> np.ndarray | None:
    # Keeping only digits and signs leaves, per triangle, the digit of each attribute name
    # ("v1" -> 1) followed by its value: six integers, whatever the attribute order.
    if b"p" in content:
        content = _OPTIONAL_TRIANGLE_ATTRIBUTES.sub(b"", content)
    if b"&" in content:
        return None
    values = _parse_numbers(content.translate(_KEEP_INTEGERS), np.int64, 6 * count)
    if values is None:
        return None
    pairs = values.reshape(count, 3, 2)
    names = pairs[:, :, 0]
    if (names == _V123).all():
        return pairs[:, :, 1].copy()
    order = np.argsort(names, axis=1)
    if not (np.take_along_axis(names, order, axis=1) == _V123).all():
        return None
    return np.take_along_axis(pairs[:, :, 1], order, axis=1)


def _read_triangles_slowly(tag: bytes, content: bytes, count: int) -> np.ndarray:
    triangles = np.empty((count, 3), dtype=np.int64)
    pattern = re.compile(re.escape(tag) + rb"\b([^>]*)>")
    row = 0
    for element in pattern.finditer(content):
        attributes = {m.group(1): m.group(2) if m.group(2) is not None else m.group(3)
                      for m in _ATTRIBUTE.finditer(element.group(1))}
        try:
            triangles[row] = [int(attributes[corner]) for corner in (b"v1", b"v2", b"v3")]
        except KeyError as exc:
            raise UnreadableFile(f"triangle {row} has no {exc.args[0].decode()} attribute") from exc
        except ValueError as exc:
            raise UnreadableFile(f"triangle {row} has a vertex index that is not an integer") from exc
        row += 1
    if row != count:
        raise UnreadableFile("a <triangle> element is malformed")
    return triangles
