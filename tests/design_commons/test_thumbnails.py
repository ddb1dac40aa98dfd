"""PNG thumbnails of meshes and drawings."""
from __future__ import annotations

import io
import time

import numpy as np
import pytest
from PIL import Image

from design_commons.thumbnails import placeholder, render_drawing, render_mesh

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _cube(side: float = 20.0) -> np.ndarray:
    """12 triangles of an axis-aligned cube, (12, 3, 3) in mm, outward winding."""
    v = np.array([[x, y, z] for x in (0, side) for y in (0, side) for z in (0, side)], float)
    faces = [(0, 2, 6), (0, 6, 4), (1, 5, 7), (1, 7, 3), (0, 4, 5), (0, 5, 1),
             (2, 3, 7), (2, 7, 6), (0, 1, 3), (0, 3, 2), (4, 6, 7), (4, 7, 5)]
    return v[np.array(faces)]


def _sphere(subdivisions: int) -> np.ndarray:
    """A UV sphere of radius 20 mm as a triangle soup of 2 * n^2 triangles."""
    n = subdivisions
    theta = np.linspace(0, np.pi, n + 1)
    phi = np.linspace(0, 2 * np.pi, n + 1)
    t, p = np.meshgrid(theta, phi, indexing="ij")
    pts = 20 * np.stack([np.sin(t) * np.cos(p), np.sin(t) * np.sin(p), np.cos(t)], axis=-1)
    a, b, c, d = pts[:-1, :-1], pts[1:, :-1], pts[1:, 1:], pts[:-1, 1:]
    tris = np.concatenate([np.stack([a, b, c], -2), np.stack([a, c, d], -2)])
    return tris.reshape(-1, 3, 3)


def _image(png: bytes) -> Image.Image:
    assert png.startswith(PNG_SIGNATURE)
    return Image.open(io.BytesIO(png))


def _drawn_pixels(png: bytes) -> int:
    image = _image(png)
    if image.mode == "RGBA":
        return int((np.asarray(image)[..., 3] > 0).sum())
    grey = np.asarray(image.convert("L"))
    return int((grey < 128).sum())


def test_cube_is_rendered_shaded() -> None:
    png = render_mesh(_cube(), size=128)
    image = _image(png)
    assert image.size == (128, 128)
    pixels = np.asarray(image.convert("RGBA"))
    opaque = pixels[..., 3] == 255
    assert 0.15 < opaque.mean() < 0.9
    # three visible faces, three shades
    shades = {tuple(p) for p in pixels[opaque][:, :3].tolist()}
    assert len(shades) >= 3


def test_mesh_with_flipped_winding_still_renders() -> None:
    cube = _cube()[:, ::-1]
    assert _drawn_pixels(render_mesh(cube, size=64)) > 0.15 * 64 * 64


def test_rectangle_drawing() -> None:
    rect = np.array([[[0, 0], [200, 0]], [[200, 0], [200, 100]],
                     [[200, 100], [0, 100]], [[0, 100], [0, 0]]], float)
    png = render_drawing(rect, size=200)
    image = _image(png)
    assert image.size == (200, 200)
    grey = np.asarray(image.convert("L"))
    assert grey[0, 0] == 255  # white margin
    dark_rows = np.nonzero((grey < 128).any(axis=1))[0]
    dark_cols = np.nonzero((grey < 128).any(axis=0))[0]
    # aspect kept: 2:1 wide, centred
    width = dark_cols.max() - dark_cols.min()
    height = dark_rows.max() - dark_rows.min()
    assert width == pytest.approx(2 * height, rel=0.05)
    assert abs((dark_rows.max() + dark_rows.min()) / 2 - 100) < 3


@pytest.mark.parametrize(
    "triangles",
    [np.empty((0, 3, 3)), np.zeros((0,)), np.zeros((4, 3, 3)), np.full((2, 3, 3), np.nan),
     np.ones((3, 3, 3))],
)
def test_degenerate_meshes_give_a_placeholder(triangles: np.ndarray) -> None:
    assert render_mesh(triangles, size=64) == placeholder(64)


@pytest.mark.parametrize(
    "segments", [np.empty((0, 2, 2)), [], np.ones((3, 2, 2)), np.full((1, 2, 2), np.inf)]
)
def test_degenerate_drawings_give_a_placeholder(segments: np.ndarray) -> None:
    assert render_drawing(segments, size=64) == placeholder(64)


def test_single_line_and_flat_mesh_render() -> None:
    assert _drawn_pixels(render_drawing(np.array([[[0, 0], [50, 0]]]), size=64)) > 10
    flat = np.array([[[0, 0, 0], [10, 0, 0], [0, 10, 0]]], float)
    assert _drawn_pixels(render_mesh(flat, size=64)) > 10


def test_wrong_shapes_are_refused() -> None:
    with pytest.raises(ValueError):
        render_mesh(np.zeros((4, 3)))
    with pytest.raises(ValueError):
        render_drawing(np.zeros((4, 3, 2)))
    with pytest.raises(ValueError):
        render_mesh(_cube(), size=0)


def test_large_mesh_is_fast_and_has_no_holes() -> None:
    tris = _sphere(320)  # about 205k triangles
    assert len(tris) > 200_000
    start = time.perf_counter()
    png = render_mesh(tris, size=256)
    elapsed = time.perf_counter() - start
    assert elapsed < 2.0  # about 0.3 s here; loose for slow CI machines
    alpha = np.asarray(_image(png).convert("RGBA"))[..., 3]
    # a filled disc: every pixel near the centre is opaque
    assert (alpha[96:160, 96:160] == 255).all()
