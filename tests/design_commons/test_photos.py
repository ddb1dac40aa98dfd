"""Photos of made parts: decoded for real, bounded, re-encoded without a trace of where they were taken."""
from __future__ import annotations

import io
import struct
import zlib

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import ExifTags, Image, ImageCms, PngImagePlugin

from design_commons.photos import PhotoLimits, PhotoRefused, check_photo

GPS = {ExifTags.GPS.GPSLatitudeRef: "N", ExifTags.GPS.GPSLatitude: (41.0, 23.0, 9.5),
       ExifTags.GPS.GPSLongitudeRef: "E", ExifTags.GPS.GPSLongitude: (2.0, 9.0, 44.25)}


def _halves(width: int = 120, height: int = 60) -> Image.Image:
    """Left half red, right half blue."""
    image = Image.new("RGB", (width, height), (220, 20, 20))
    image.paste((20, 20, 220), (width // 2, 0, width, height))
    return image


def _exif(orientation: int | None = None) -> Image.Exif:
    exif = Image.Exif()
    exif[ExifTags.Base.Make] = "SecretPhoneMaker"
    exif[ExifTags.Base.Artist] = "Ana Operator"
    if orientation:
        exif[ExifTags.Base.Orientation] = orientation
    exif[ExifTags.IFD.GPSInfo] = GPS
    return exif


def _save(image: Image.Image, fmt: str, **options: object) -> bytes:
    out = io.BytesIO()
    image.save(out, format=fmt, **options)
    return out.getvalue()


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def _png_bomb(width: int, height: int) -> bytes:
    """A real 1-bit PNG of zeros: a few hundred kB that inflate to width x height pixels."""
    row = b"\x00" * (1 + (width + 7) // 8)
    packer = zlib.compressobj(9)
    idat = b"".join(packer.compress(row) for _ in range(height)) + packer.flush()
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", header) + _png_chunk(b"IDAT", idat) + _png_chunk(b"IEND", b"")


def _refused(data: bytes, code: str, declared: str | None = None, limits: PhotoLimits | None = None) -> str:
    with pytest.raises(PhotoRefused) as caught:
        check_photo(data, declared, **({"limits": limits} if limits else {}))
    assert caught.value.code == code
    return caught.value.message


def test_a_photo_with_gps_exif_comes_back_without_it() -> None:
    data = _save(_halves(), "JPEG", exif=_exif(), quality=95)
    assert Image.open(io.BytesIO(data)).getexif().get_ifd(ExifTags.IFD.GPSInfo)  # the upload has it
    photo = check_photo(data, "image/jpeg")
    assert photo.media_type == "image/jpeg"
    for blob in (photo.content, photo.thumbnail):
        clean = Image.open(io.BytesIO(blob))
        assert clean.format == "JPEG"
        assert not clean.getexif() and not clean.getexif().get_ifd(ExifTags.IFD.GPSInfo)
        assert "exif" not in clean.info and "icc_profile" not in clean.info
        assert b"Exif" not in blob and b"SecretPhoneMaker" not in blob and b"Ana Operator" not in blob


@pytest.mark.parametrize("fmt", ["PNG", "WEBP"])
def test_png_and_webp_lose_exif_text_and_profiles(fmt: str) -> None:
    options: dict[str, object] = {"exif": _exif(), "icc_profile": ImageCms.ImageCmsProfile(
        ImageCms.createProfile("sRGB")).tobytes()}
    if fmt == "PNG":
        text = PngImagePlugin.PngInfo()
        text.add_text("Comment", "taken at Carrer de la Ciutat 7")
        options["pnginfo"] = text
    translucent = _halves().convert("RGBA")
    translucent.putalpha(128)
    data = _save(translucent, fmt, **options)
    photo = check_photo(data, f"image/{fmt.lower()}")
    clean = Image.open(io.BytesIO(photo.content))
    assert clean.format == fmt and clean.mode == "RGBA"
    assert not clean.getexif()
    assert not {"exif", "icc_profile", "Comment", "XML:com.adobe.xmp"} & set(clean.info)
    assert b"Carrer" not in photo.content and b"SecretPhoneMaker" not in photo.content


def test_orientation_is_applied_so_the_photo_stands_as_it_was_taken() -> None:
    # Orientation 6: the camera was turned, the picture is shown rotated 90 degrees clockwise.
    data = _save(_halves(120, 60), "JPEG", exif=_exif(orientation=6), quality=95)
    photo = check_photo(data)
    upright = Image.open(io.BytesIO(photo.content)).convert("RGB")
    assert upright.size == (60, 120) == (photo.width, photo.height)
    top, bottom = upright.getpixel((30, 10)), upright.getpixel((30, 110))
    assert top[0] > 150 and top[2] < 80  # the left (red) half is now on top
    assert bottom[2] > 150 and bottom[0] < 80


def test_large_photos_are_scaled_down_and_get_a_thumbnail() -> None:
    limits = PhotoLimits(stored_side=800, thumbnail_side=100)
    photo = check_photo(_save(_halves(2000, 1000), "PNG"), limits=limits)
    assert (photo.original_width, photo.original_height) == (2000, 1000)
    assert (photo.width, photo.height) == (800, 400)
    assert (photo.thumbnail_width, photo.thumbnail_height) == (100, 50)
    assert Image.open(io.BytesIO(photo.thumbnail)).size == (100, 50)
    small = check_photo(_save(_halves(80, 40), "PNG"), limits=limits)
    assert (small.width, small.thumbnail_width) == (80, 80)  # never enlarged


@pytest.mark.parametrize(("width", "height"), [(8_000, 8_000), (12_000, 12_000), (20_000, 20_000), (16_384, 20)])
def test_a_png_bomb_is_refused_before_it_is_inflated(width: int, height: int) -> None:
    bomb = _png_bomb(width, height)
    assert len(bomb) < 2_000_000
    message = _refused(bomb, "photo_too_many_pixels", "image/png")
    assert "pixels" in message


def test_a_truncated_file_is_unreadable_not_a_crash() -> None:
    noise = Image.effect_noise((300, 200), 64).convert("RGB")
    for fmt in ("JPEG", "PNG", "WEBP"):
        data = _save(noise, fmt)
        _refused(data[: len(data) // 2], "photo_unreadable")


@pytest.mark.parametrize(("data", "declared", "code"), [
    (b"<html><script>alert(1)</script></html>", "image/jpeg", "photo_not_image"),
    (b'<svg xmlns="http://www.w3.org/2000/svg" width="64" height="64"/>', "image/png", "photo_not_image"),
    (b"GIF89a" + b"\x00" * 200, "image/gif", "photo_not_image"),
    (b"", None, "photo_not_image"),
])
def test_a_file_that_is_not_an_image_is_refused_with_a_clear_error(data: bytes, declared: str, code: str) -> None:
    assert "JPEG, PNG or WebP" in _refused(data, code, declared)


def test_real_images_of_other_formats_are_refused() -> None:
    for fmt in ("GIF", "BMP", "TIFF"):
        _refused(_save(_halves(), fmt), "photo_not_image", f"image/{fmt.lower()}")


def test_a_file_that_lies_about_its_type_is_refused() -> None:
    png = _save(_halves(), "PNG")
    assert "image/jpeg" in _refused(png, "photo_type_mismatch", "image/jpeg")
    assert check_photo(png, "image/png").media_type == "image/png"
    assert check_photo(png, "application/octet-stream").media_type == "image/png"
    assert check_photo(_save(_halves(), "JPEG"), "image/jpg; charset=binary").media_type == "image/jpeg"


def test_byte_and_side_bounds() -> None:
    data = _save(_halves(), "PNG")
    _refused(data, "photo_too_large", limits=PhotoLimits(max_bytes=len(data) - 1))
    _refused(_save(_halves(10, 40), "PNG"), "photo_too_small")


_SAMPLES = [_save(Image.effect_noise((40, 30), 50).convert("RGB"), fmt) for fmt in ("JPEG", "PNG", "WEBP")]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(sample=st.sampled_from(_SAMPLES), data=st.data())
def test_damaged_images_are_refused_with_a_code_or_accepted_clean(sample: bytes, data: st.DataObject) -> None:
    damaged = bytearray(sample)
    for _ in range(data.draw(st.integers(1, 8))):
        damaged[data.draw(st.integers(0, len(damaged) - 1))] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(1, len(damaged)))
    try:
        photo = check_photo(bytes(damaged[:cut]))
    except PhotoRefused as refused:
        assert refused.code.startswith("photo_")
    else:
        assert Image.open(io.BytesIO(photo.content)).size == (photo.width, photo.height)
