"""Small PNG previews of design files: shaded meshes and line drawings.

Both renderers take plain numpy arrays in mm (what the mesh and drawing readers produce),
so they need no file format code and run in the hub's background work. Degenerate input
(no geometry, zero extent, only non-finite coordinates) gives a neutral placeholder
image, never an exception; an array of the wrong shape is a programming error
(``ValueError``).
"""
from __future__ import annotations

import io

import numpy as np
from numpy.typing import NDArray
from PIL import Image, ImageDraw

#: The most triangles drawn (about 0.2 s); larger meshes are simplified first.
MAX_TRIANGLES = 50_000
_SUPERSAMPLE = 2  # draw at twice the size and shrink: cheap anti-aliasing
_MARGIN = 0.08  # fraction of the image left empty on each side
_MESH_RGB = np.array([64, 140, 200], dtype=np.float64)  # a calm blue, like filament
_AMBIENT = 0.32
_LINE_RGB = (28, 36, 48)
_PLACEHOLDER_RGB = (232, 235, 239)
_PLACEHOLDER_MARK = (178, 186, 196)

# Isometric-ish camera: looking at the part from the front right, above (z up, mm).
_EYE = np.array([1.0, -1.0, 0.9])
_EYE /= np.linalg.norm(_EYE)
_RIGHT = np.cross(-_EYE, [0.0, 0.0, 1.0])
_RIGHT /= np.linalg.norm(_RIGHT)
_UP = np.cross(_RIGHT, -_EYE)
# Light from the upper left of the viewer, so the visible faces get distinct shades.
_LIGHT = 0.55 * _EYE + 0.6 * _UP - 0.45 * _RIGHT
_LIGHT /= np.linalg.norm(_LIGHT)


def _png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=False)
    return buffer.getvalue()


def _check_size(size: int) -> None:
    if not isinstance(size, int) or size < 8 or size > 4096:
        raise ValueError(f"thumbnail size must be an int from 8 to 4096 pixels, not {size!r}")


def placeholder(size: int = 256) -> bytes:
    """A neutral PNG (light grey square with a faint cross) for files with nothing to draw."""
    _check_size(size)
    image = Image.new("RGB", (size, size), _PLACEHOLDER_RGB)
    draw = ImageDraw.Draw(image)
    inset = size // 4
    width = max(1, size // 64)
    draw.line([(inset, inset), (size - inset, size - inset)], fill=_PLACEHOLDER_MARK, width=width)
    draw.line([(inset, size - inset), (size - inset, inset)], fill=_PLACEHOLDER_MARK, width=width)
    return _png(image)


def _fit(points: NDArray[np.float64], canvas: int) -> tuple[NDArray[np.float64], bool]:
    """Scale and centre 2D points (y up) into a ``canvas`` square (y down); False if no extent."""
    low = points.min(axis=0)
    high = points.max(axis=0)
    extent = float((high - low).max())
    if not np.isfinite(extent) or extent <= 1e-9 * max(1.0, float(np.abs(points).max())):
        return points, False
    scale = canvas * (1 - 2 * _MARGIN) / extent
    centre = (low + high) / 2
    out = (points - centre) * scale
    out[..., 1] = -out[..., 1]
    return out + canvas / 2, True


def _cluster(tris: NDArray[np.float64], cells: int) -> NDArray[np.float64]:
    """Vertex-clustering simplification: snap vertices to the mean of their grid cell.

    The grid has ``cells`` cells along the longest side of the bounding box; triangles
    that collapse (two corners in one cell) are dropped. Unlike dropping triangles, this
    leaves no holes in a closed surface, only facets smaller than a few pixels.
    """
    vertices = tris.reshape(-1, 3)
    low = vertices.min(axis=0)
    step = float((vertices.max(axis=0) - low).max()) / cells
    index = np.floor((vertices - low) / step).astype(np.int64)
    keys = (index[:, 0] * (cells + 1) + index[:, 1]) * (cells + 1) + index[:, 2]
    _, inverse = np.unique(keys, return_inverse=True)
    inverse = inverse.reshape(-1)
    counts = np.bincount(inverse).astype(np.float64)
    means = np.stack(
        [np.bincount(inverse, weights=vertices[:, k]) / counts for k in range(3)], axis=1
    )
    corners = inverse.reshape(-1, 3)
    alive = (
        (corners[:, 0] != corners[:, 1])
        & (corners[:, 1] != corners[:, 2])
        & (corners[:, 0] != corners[:, 2])
    )
    simplified: NDArray[np.float64] = means[corners[alive]]
    return simplified


def _simplify(tris: NDArray[np.float64], size: int) -> NDArray[np.float64]:
    """At most :data:`MAX_TRIANGLES` triangles that look the same at ``size`` pixels."""
    cells = max(16, size // 3)
    while len(tris) > MAX_TRIANGLES and cells >= 16:
        simpler = _cluster(tris, cells)
        if len(simpler) <= MAX_TRIANGLES:
            return simpler
        cells = int(cells * 0.7)
    if len(tris) > MAX_TRIANGLES:  # still too many (tiny extent vs. huge count): keep largest
        area = np.linalg.norm(
            np.cross(tris[:, 1] - tris[:, 0], tris[:, 2] - tris[:, 0]), axis=1
        )
        tris = tris[np.argpartition(area, -MAX_TRIANGLES)[-MAX_TRIANGLES:]]
    return tris


def render_mesh(triangles: NDArray[np.floating] | np.ndarray, size: int = 256) -> bytes:
    """A shaded PNG of a triangle mesh, ``size`` x ``size`` pixels, transparent background.

    ``triangles``: shape ``(n, 3, 3)``, vertex coordinates in mm, z up. The part is seen
    from the front right and above, lit by a fixed light (Lambert shading of each face,
    both sides lit, so meshes with flipped normals still look right) and drawn far to near
    (painter's algorithm). Meshes above :data:`MAX_TRIANGLES` are simplified by vertex
    clustering to about pixel-sized facets first. Takes well under a second for 200k
    triangles.

    Raises ``ValueError`` for an array of another shape or a bad ``size``.
    """
    _check_size(size)
    tris = np.asarray(triangles, dtype=np.float64)
    if tris.size == 0:
        return placeholder(size)
    if tris.ndim != 3 or tris.shape[1:] != (3, 3):
        raise ValueError(f"triangles must have shape (n, 3, 3), not {tris.shape}")
    tris = tris[np.isfinite(tris).all(axis=(1, 2))]
    if len(tris) == 0:
        return placeholder(size)

    extent = float(np.ptp(tris.reshape(-1, 3), axis=0).max())
    if len(tris) > MAX_TRIANGLES and extent > 0:
        tris = _simplify(tris, size)
    normals = np.cross(tris[:, 1] - tris[:, 0], tris[:, 2] - tris[:, 0])
    doubled_area = np.linalg.norm(normals, axis=1)

    canvas = size * _SUPERSAMPLE
    basis = np.stack([_RIGHT, _UP, _EYE], axis=1)  # world -> (screen x, screen y, depth)
    view = tris @ basis
    screen, ok = _fit(view[..., :2].reshape(-1, 2), canvas)
    if not ok:
        return placeholder(size)
    screen = screen.reshape(-1, 3, 2)

    with np.errstate(invalid="ignore", divide="ignore"):
        unit = normals / doubled_area[:, None]
    unit = np.nan_to_num(unit)
    # Turn every face towards the viewer: two-sided lighting.
    unit *= np.where(unit @ _EYE < 0, -1.0, 1.0)[:, None]
    light = np.clip(unit @ _LIGHT, 0.0, 1.0)
    shade = _AMBIENT + (1 - _AMBIENT) * light
    colours = np.clip(shade[:, None] * _MESH_RGB[None, :] + 18 * light[:, None] ** 8, 0, 255)
    colours = colours.astype(np.uint8)

    order = np.argsort(view[..., 2].mean(axis=1), kind="stable")  # far (small depth) first
    image = Image.new("RGBA", (canvas, canvas), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    coords = screen[order].reshape(len(order), 6).tolist()
    fills = [tuple(c) for c in colours[order].tolist()]
    for xy, fill in zip(coords, fills, strict=True):
        # The outline in the fill colour closes the hairline gaps between neighbours.
        draw.polygon(xy, fill=fill, outline=fill)
    return _png(image.resize((size, size), Image.Resampling.LANCZOS))


def render_drawing(segments: NDArray[np.floating] | np.ndarray, size: int = 256) -> bytes:
    """A PNG of a 2D drawing: dark lines on white, aspect kept, with a margin.

    ``segments``: shape ``(m, 2, 2)``, each a line from ``(x0, y0)`` to ``(x1, y1)`` in mm,
    y up (as in DXF); arcs and splines come as chains of short segments.

    Raises ``ValueError`` for an array of another shape or a bad ``size``.
    """
    _check_size(size)
    segs = np.asarray(segments, dtype=np.float64)
    if segs.size == 0:
        return placeholder(size)
    if segs.ndim != 3 or segs.shape[1:] != (2, 2):
        raise ValueError(f"segments must have shape (m, 2, 2), not {segs.shape}")
    segs = segs[np.isfinite(segs).all(axis=(1, 2))]
    if len(segs) == 0:
        return placeholder(size)

    canvas = size * _SUPERSAMPLE
    points, ok = _fit(segs.reshape(-1, 2), canvas)
    if not ok:
        return placeholder(size)
    image = Image.new("RGB", (canvas, canvas), (255, 255, 255))
    draw = ImageDraw.Draw(image)
    width = max(1, round(size / 256)) * _SUPERSAMPLE
    for xy in points.reshape(-1, 4).tolist():
        draw.line(xy, fill=_LINE_RGB, width=width)
    return _png(image.resize((size, size), Image.Resampling.LANCZOS))
