"""Fast readers for the bulk of a 3MF model part: ``<vertices>`` and ``<triangles>`` blocks.

A large 3MF is almost all ``<vertex x=".." y=".." z=".."/>`` and ``<triangle v1 v2 v3/>``
elements. Building an element per vertex is what makes general XML readers slow, so these
blocks are cut out of the document as it streams past (:func:`stream_blocks`) and read with byte operations in C:
``bytes.translate`` to keep the numbers and ``np.fromstring`` to parse them. The fast path
checks its assumptions (one attribute order throughout, no foreign attributes, exact counts)
and falls back to a per-element regex reader when they do not hold, so attribute order and
optional attributes (``p1``/``p2``/``p3``/``pid``) are handled either way.
"""
from __future__ import annotations

import codecs
import re
import warnings
from collections.abc import Iterable

import numpy as np

from design_commons.limits import Limits
from design_commons.meshes.package import refuse_declarations
from design_commons.reports import LimitExceeded, UnreadableFile

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
_OBJECT_ID = re.compile(rb"""<(?:[A-Za-z_][\w.\-]*:)?object\s[^>]*?\bid\s*=\s*["']([^"']*)""")
_ENCODING = re.compile(rb"""<\?xml[^>]*encoding\s*=\s*["']([^"']+)["']""")
BLOCK_ATTRIBUTE = "cosmolocblock"


#: Decompressed bytes of a model part parsed at a time: bounds what reading needs beyond its arrays.
CHUNK_BYTES = 1 << 20  # larger chunks are no faster, and their temporaries dominate small files
#: A tag or element still open after this many bytes is refused rather than buffered further.
MAX_OPEN_BYTES = 64 << 20
_INT32_MAX = (1 << 31) - 1


class _Rows:
    """An ``(n, 3)`` array filled piece by piece, grown in place (``ndarray.resize``, a realloc)."""

    def __init__(self, dtype: type, limit: int, too_many: str) -> None:
        self.rows: np.ndarray = np.empty((0, 3), dtype=dtype)
        self.count = 0
        self.limit = limit
        self.too_many = too_many

    def extend(self, values: np.ndarray) -> None:
        need = self.count + len(values)
        if need > self.limit:
            raise LimitExceeded(self.too_many)  # before growing past the limit
        if need > len(self.rows):
            self.rows.resize((min(max(need, len(self.rows) * 3 // 2, 1024), self.limit), 3), refcheck=False)
        self.rows[self.count:need] = values
        self.count = need

    def finish(self) -> np.ndarray:
        self.rows.resize((self.count, 3), refcheck=False)
        return self.rows


class _BlockReader:
    """Cuts ``<vertices>``/``<triangles>`` content out of a model part fed chunk by chunk.

    Everything else goes to ``skeleton``; each block becomes an array in ``blocks`` as its
    content streams past (see :func:`stream_blocks`).
    """

    def __init__(self, part: str, limits: Limits) -> None:
        self.part = part
        self.limits = limits
        self.skeleton: list[bytes] = []
        self.blocks: list[np.ndarray] = []
        self.object_id = "?"
        self.qname = b""
        self.open: _Rows | None = None  # the block being read, if inside one

    def _outside(self, text: bytes) -> None:
        self.skeleton.append(text)
        ids = _OBJECT_ID.findall(text)
        if ids:
            self.object_id = ids[-1].decode("utf-8", "replace")

    def _enter(self, qname: bytes, opening: bytes) -> None:
        self._outside(opening + b' %s="%d"/>' % (BLOCK_ATTRIBUTE.encode(), len(self.blocks)))
        self.blocks.append(np.zeros((0, 3)))
        self.qname = qname
        if qname.endswith(b"vertices"):
            limit, what = self.limits.max_vertices, "vertices"
            self.open = _Rows(np.float64, limit, f"Object {self.object_id} has more than {limit:,} {what}.")
        else:
            limit, what = self.limits.max_triangles, "triangles"
            self.open = _Rows(np.int32, limit, f"Object {self.object_id} has more than {limit:,} {what}.")

    def _content(self, content: bytes) -> None:
        assert self.open is not None
        if self.qname.endswith(b"vertices"):
            self.open.extend(read_vertices(self.qname, content))
            return
        faces = read_triangles(self.qname, content)
        if len(faces) and (faces.max() > _INT32_MAX):
            faces[faces > _INT32_MAX] = -1  # no such vertex, which the reader reports per object
        self.open.extend(faces)

    def feed(self, text: bytes, final: bool) -> bytes:
        """Consume what ``text`` completes; returns the unfinished tail to prepend to the next chunk."""
        position = 0
        while True:
            if self.open is None:
                found = _OPEN_BLOCK.search(text, position)
                if found is None:
                    cut = len(text) if final else text.rfind(b"<", position)
                    if cut < 0 or text.find(b">", cut) >= 0:
                        cut = len(text)
                    self._outside(text[position:cut])
                    return text[cut:]
                self._outside(text[position:found.start()])
                self._enter(found.group(1), text[found.start():found.end() - 1])
                position = found.end()
                continue
            close = text.find(b"</" + self.qname, position)
            close_end = text.find(b">", close) if close >= 0 else -1
            if close_end < 0:
                if final:
                    raise UnreadableFile(f"the <{self.qname.decode('ascii', 'replace')}> element is never closed")
                last = text.rfind(b">", position, close if close >= 0 else len(text))
                if last >= 0:
                    self._content(text[position:last + 1])
                    position = last + 1
                return text[position:]
            self._content(text[position:close])
            self.blocks[-1] = self.open.finish()
            self.open = None
            position = close_end + 1


def stream_blocks(chunks: Iterable[bytes], part: str, limits: Limits) -> tuple[bytes, list[np.ndarray]]:
    """Read a model part given as decompressed ``chunks``, never holding it whole.

    Returns ``(skeleton, blocks)``: ``skeleton`` is the document with every ``<vertices>`` and
    ``<triangles>`` element made empty and given a ``cosmolocblock="k"`` attribute (small, for
    a real, defused XML parser); ``blocks[k]`` is that element's content as an array: vertices
    ``(m, 3)`` float64 or vertex indices ``(k, 3)`` int32. Elements split across chunks are
    carried over. Raises :class:`UnreadableFile` for a DOCTYPE or ENTITY anywhere, text that is
    not UTF-8 or an element never closed, and :class:`LimitExceeded` as soon as one object's
    vertices or triangles pass ``limits`` (before the array grows past them).
    """
    reader = _BlockReader(part, limits)
    utf8 = codecs.getincrementaldecoder("utf-8")()
    head = b""
    tail = b""
    for chunk in chunks:
        if len(head) < 1024:
            head += chunk[:1024]
        if not chunk.isascii() or utf8.getstate()[0]:
            try:
                utf8.decode(chunk)
            except UnicodeDecodeError as exc:
                check_declared_encoding(head, part)
                raise UnreadableFile(f"the part {part!r} is not UTF-8 text, which 3MF requires") from exc
        text = tail + chunk if tail else chunk
        if b"<!" in text:
            refuse_declarations(text, part)  # the tail holds any declaration cut by the chunk boundary
        tail = reader.feed(text, final=False)
        if len(tail) > MAX_OPEN_BYTES:
            raise UnreadableFile(f"the part {part!r} has a tag or element longer than {MAX_OPEN_BYTES:,} bytes")
    check_declared_encoding(head, part)
    try:
        utf8.decode(b"", final=True)
    except UnicodeDecodeError as exc:
        raise UnreadableFile(f"the part {part!r} is not UTF-8 text, which 3MF requires") from exc
    reader.feed(tail, final=True)
    return b"".join(reader.skeleton), reader.blocks


def check_declared_encoding(head: bytes, part: str) -> None:
    """Refuse a part whose XML declaration (in ``head``, its first bytes) names another encoding."""
    declared = _ENCODING.match(head.lstrip(b"\xef\xbb\xbf"))
    encoding = declared.group(1).decode("ascii", "replace") if declared else "utf-8"
    if encoding.lower().replace("_", "-") not in ("utf-8", "utf8"):
        raise UnreadableFile(f"the part {part!r} declares the encoding {encoding}; 3MF requires UTF-8")


def _prefix(qname: bytes) -> bytes:
    return qname.rsplit(b":", 1)[0] + b":" if b":" in qname else b""


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
