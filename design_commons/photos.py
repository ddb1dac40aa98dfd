"""Photos of made parts: checked as images by a real decoder, re-encoded clean, with a thumbnail.

An operator's photo comes from a phone and may carry where it was taken (GPS EXIF), the
device, the owner's name or an embedded preview. :func:`check_photo` decodes it with Pillow,
restricted to the JPEG, PNG and WebP decoders (no other codec ever sees the bytes), within
byte and pixel bounds read from the header before any pixel is decoded, applies the EXIF
orientation, converts embedded colour profiles to sRGB and writes a new file from the pixels
alone: no EXIF, XMP, ICC, text chunks or comments survive. Refusals are
:class:`PhotoRefused` with a stable ``code`` (the hub's problem+json code):

- ``photo_too_large``: more bytes than ``max_bytes``;
- ``photo_not_image``: not a JPEG, PNG or WebP image (any other format, or not an image);
- ``photo_type_mismatch``: the declared media type says one format and the bytes another;
- ``photo_too_many_pixels``: wider, taller or with more pixels than the bounds (a
  decompression bomb is refused here, before it is inflated);
- ``photo_too_small``: a side under ``min_side`` pixels;
- ``photo_unreadable``: the header is an image's but the data is truncated or damaged.
"""
from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

from PIL import Image, ImageCms, ImageOps, UnidentifiedImageError

_FORMATS = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp"}
_ALIASES = {"image/jpg": "image/jpeg", "image/pjpeg": "image/jpeg", "image/x-png": "image/png"}

PHOTO_TOO_LARGE = "photo_too_large"
PHOTO_NOT_IMAGE = "photo_not_image"
PHOTO_TYPE_MISMATCH = "photo_type_mismatch"
PHOTO_TOO_MANY_PIXELS = "photo_too_many_pixels"
PHOTO_TOO_SMALL = "photo_too_small"
PHOTO_UNREADABLE = "photo_unreadable"


class PhotoRefused(ValueError):
    """An upload that is not a photo the hub keeps; ``code`` is stable, the message plain words."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class PhotoLimits:
    """Bounds on one photo. Pixels are checked from the header, before decoding."""

    max_bytes: int = 15 * 1024 * 1024
    max_pixels: int = 50_000_000  # a 50 MP phone camera; decoded RGB at most 150 MB
    max_side: int = 16_383  # WebP's own limit
    min_side: int = 16
    stored_side: int = 2560  # longest side kept; larger photos are scaled down
    thumbnail_side: int = 320


DEFAULT_PHOTO_LIMITS = PhotoLimits()


@dataclass(frozen=True)
class CheckedPhoto:
    """A clean photo and its thumbnail, both in ``media_type``; sizes in pixels after orientation."""

    content: bytes
    media_type: str
    width: int
    height: int
    thumbnail: bytes
    thumbnail_width: int
    thumbnail_height: int
    original_width: int
    original_height: int


def _looks_allowed(data: bytes) -> bool:
    """The file starts as a JPEG, PNG or WebP does (so a failure to open it is damage)."""
    return (data.startswith((b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n"))
            or (data[:4] == b"RIFF" and data[8:12] == b"WEBP"))


def _open(data: bytes, limits: PhotoLimits) -> Image.Image:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data), formats=list(_FORMATS))
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise PhotoRefused(PHOTO_TOO_MANY_PIXELS, f"the image has too many pixels ({exc})") from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
        if _looks_allowed(data):
            raise PhotoRefused(PHOTO_UNREADABLE, f"the image is truncated or damaged ({exc})") from None
        raise PhotoRefused(PHOTO_NOT_IMAGE, "the file is not a JPEG, PNG or WebP image") from None
    width, height = image.size
    if width > limits.max_side or height > limits.max_side or width * height > limits.max_pixels:
        raise PhotoRefused(PHOTO_TOO_MANY_PIXELS,
                           f"the image is {width} x {height} pixels; at most {limits.max_side} a side and "
                           f"{limits.max_pixels / 1e6:g} million in all")
    if min(width, height) < limits.min_side:
        raise PhotoRefused(PHOTO_TOO_SMALL, f"the image is {width} x {height} pixels; "
                                            f"at least {limits.min_side} a side")
    return image


def _to_srgb(image: Image.Image) -> Image.Image:
    """Pixels in sRGB, RGB or RGBA; an embedded profile is applied, then dropped."""
    alpha = image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info)
    icc = image.info.get("icc_profile")
    rgb = image.convert("RGBA" if alpha else "RGB")
    if icc:
        try:
            source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
            converted = ImageCms.profileToProfile(rgb, source, ImageCms.createProfile("sRGB"),
                                                  outputMode=rgb.mode)
            if converted is not None:
                rgb = converted
        except (ImageCms.PyCMSError, OSError, ValueError):
            pass  # a broken profile: keep the pixels as they are
    return rgb


def _shrunk(image: Image.Image, side: int, resample: Image.Resampling) -> Image.Image:
    """``image`` scaled down to at most ``side`` pixels on its longest side (never enlarged)."""
    scale = side / max(image.size)
    if scale >= 1:
        return image
    size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    return image.resize(size, resample, reducing_gap=2.0)


def _encode(image: Image.Image, fmt: str) -> bytes:
    # A new image from the pixels alone, so no metadata of the upload can be carried along.
    clean = Image.frombytes(image.mode, image.size, image.tobytes())
    out = io.BytesIO()
    if fmt == "JPEG":
        clean.convert("RGB").save(out, format="JPEG", quality=88)
    elif fmt == "WEBP":
        clean.save(out, format="WEBP", quality=85, method=4)
    else:
        clean.save(out, format="PNG", compress_level=1)  # photos hardly compress: level 6 is 3-7x slower for ~0 %
    return out.getvalue()


def check_photo(data: bytes, declared_type: str | None = None,
                limits: PhotoLimits = DEFAULT_PHOTO_LIMITS) -> CheckedPhoto:
    """Check ``data`` as a JPEG, PNG or WebP photo; return it re-encoded clean, with a thumbnail.

    ``declared_type``: the media type the upload claimed (``None``, empty or
    ``application/octet-stream``: not checked). The photo keeps its format, scaled down to
    ``limits.stored_side`` on its longest side; the first frame of an animation is taken.
    Raises :class:`PhotoRefused`.
    """
    if len(data) > limits.max_bytes:
        raise PhotoRefused(PHOTO_TOO_LARGE, f"the photo is {len(data)} bytes; at most {limits.max_bytes}")
    image = _open(data, limits)
    fmt = image.format or ""
    media_type = _FORMATS[fmt]
    claimed = (declared_type or "").split(";")[0].strip().lower()
    claimed = _ALIASES.get(claimed, claimed)
    if claimed and claimed != "application/octet-stream" and claimed != media_type:
        raise PhotoRefused(PHOTO_TYPE_MISMATCH, f"the file says it is {claimed} but it is {media_type}")
    original = image.size
    try:
        if fmt == "JPEG":
            image.draft("RGB", (limits.stored_side, limits.stored_side))  # decode at a reduced scale
        image.load()
        upright = ImageOps.exif_transpose(image)
        pixels = _to_srgb(upright)
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
        raise PhotoRefused(PHOTO_UNREADABLE, f"the image is truncated or damaged ({exc})") from None
    finally:
        image.close()
    pixels = _shrunk(pixels, limits.stored_side, Image.Resampling.BICUBIC)
    thumb = _shrunk(pixels, limits.thumbnail_side, Image.Resampling.LANCZOS)
    return CheckedPhoto(
        content=_encode(pixels, fmt), media_type=media_type, width=pixels.width, height=pixels.height,
        thumbnail=_encode(thumb, fmt), thumbnail_width=thumb.width, thumbnail_height=thumb.height,
        original_width=original[0], original_height=original[1],
    )
