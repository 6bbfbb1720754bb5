"""Decode an upload with Pillow and re-encode it: the only module that touches pixels.

Everything here is synchronous and CPU-bound; the routes run it in the service's
small image pool (Pillow releases the GIL while it decodes, resizes and encodes).
"""

from __future__ import annotations

import io
import struct
import warnings
from dataclasses import dataclass

from PIL import ExifTags, Image, UnidentifiedImageError

from anime_common import PayloadTooLargeError, UnsupportedMediaTypeError

# What an upload may be, by its content; the file name and declared type are never read.
ACCEPTED_FORMATS = ("JPEG", "PNG", "WEBP", "GIF")
OUTPUT_FORMAT = "WEBP"
OUTPUT_CONTENT_TYPE = "image/webp"

# EXIF orientation -> the transpose that shows the image upright (as ImageOps.exif_transpose).
_ORIENTATION = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
# What a corrupt or truncated file makes Pillow raise while decoding. OSError must be
# caught here: left alone, it would read as "database unavailable" (503) upstream.
_DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, IndexError, TypeError, struct.error)
# Resize in two steps, a box `reduce` by an integer factor then Lanczos over at least
# 1.5x the target: on a 4 MP PNG 26 ms instead of 61 ms (gap 3.0) or 85 ms (one step),
# with no visible difference at avatar sizes (bench/media).
_REDUCING_GAP = 1.5


def refuse_decompression_bombs() -> None:
    """Make Pillow's DecompressionBombWarning an error for this process.

    Pillow only warns between its MAX_IMAGE_PIXELS and twice that; a warning can be
    filtered away and the bomb decoded anyway. Installed once, before any image
    thread starts (`warnings.catch_warnings` around each open would not be
    thread-safe). Our own, lower `max_pixels` check refuses most bombs first.
    """
    warnings.filterwarnings("error", category=Image.DecompressionBombWarning)


def warm_up() -> None:
    """Load the decoders and the WebP encoder now, not during the first upload (~0.5 s)."""
    image = Image.new("RGB", (8, 8))
    for image_format in ACCEPTED_FORMATS:
        buffer = io.BytesIO()
        image.save(buffer, image_format)
        Image.open(io.BytesIO(buffer.getvalue())).load()


@dataclass(frozen=True, slots=True)
class AvatarSpec:
    size: int
    thumbnail_size: int
    quality: int
    max_pixels: int


@dataclass(frozen=True, slots=True)
class EncodedAvatar:
    avatar: bytes
    thumbnail: bytes
    size: int
    thumbnail_size: int
    source_format: str
    source_width: int
    source_height: int


def _too_many_pixels(max_pixels: int) -> PayloadTooLargeError:
    return PayloadTooLargeError(f"The image may have at most {max_pixels:,} pixels")


def _not_an_image() -> UnsupportedMediaTypeError:
    return UnsupportedMediaTypeError("The file is not a JPEG, PNG, WebP or GIF image")


def _decode_failure(exc: BaseException) -> PayloadTooLargeError | UnsupportedMediaTypeError:
    """A decoder's error as ours: a chunk that inflates past Pillow's limits is a bomb
    (413), anything else an image we cannot read (415)."""
    if isinstance(exc, MemoryError) or (isinstance(exc, ValueError) and "too large" in str(exc)):
        return PayloadTooLargeError("A part of the image is too large once decompressed")
    return UnsupportedMediaTypeError("The image could not be decoded")


def _has_alpha(image: Image.Image) -> bool:
    return image.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in image.info


def _square(image: Image.Image, side: int) -> Image.Image:
    """The centred square of the first frame, at most `side` pixels wide, upright.

    An animated GIF or WebP becomes a still of its first frame.
    """
    if image.format in ("JPEG", "MPO"):
        # Let libjpeg decode at 1/2, 1/4 or 1/8 scale when the result stays >= side.
        # (MPO: a phone's JPEG with extra pictures appended; Pillow opens it as JPEG.)
        image.draft("RGB", (side, side))
    image.load()
    orientation = image.getexif().get(ExifTags.Base.Orientation, 1)
    mode = "RGBA" if _has_alpha(image) else "RGB"
    source = image if image.mode == mode else image.convert(mode)
    width, height = source.size
    edge = min(width, height)
    left, top = (width - edge) // 2, (height - edge) // 2
    out = min(side, edge)
    square = source.resize(
        (out, out),
        Image.Resampling.LANCZOS,
        box=(left, top, left + edge, top + edge),
        reducing_gap=_REDUCING_GAP,
    )
    # A rotation or flip maps the centred square onto itself, so orienting the small
    # result equals orienting the whole image first, at a fraction of the cost.
    transpose = _ORIENTATION.get(orientation) if isinstance(orientation, int) else None
    return square.transpose(transpose) if transpose is not None else square


def _webp(image: Image.Image, quality: int) -> bytes:
    buffer = io.BytesIO()
    # No exif/icc_profile/xmp given: WebP output carries pixels only.
    image.save(buffer, OUTPUT_FORMAT, quality=quality, method=4)
    return buffer.getvalue()


def encode_avatar(data: bytes, *, spec: AvatarSpec) -> EncodedAvatar:
    """Identify `data` by decoding it, refuse bombs, and re-encode a square avatar and thumbnail.

    Only pixels survive: EXIF, comments, profiles and any bytes after the image
    (a polyglot's HTML) are gone, since the output is encoded from decoded pixels.
    """
    try:
        image = Image.open(io.BytesIO(data), formats=ACCEPTED_FORMATS)
    except UnidentifiedImageError:
        raise _not_an_image() from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise _too_many_pixels(spec.max_pixels) from None
    except (*_DECODE_ERRORS, MemoryError) as exc:
        # Open already reads the headers and the chunks before the pixels (a PNG's text
        # and ICC profile, a WebP's decoder set-up): those fail here, not in load().
        raise _decode_failure(exc) from None
    with image:
        width, height = image.size
        if width < 1 or height < 1:
            raise _not_an_image()
        if width * height > spec.max_pixels:
            raise _too_many_pixels(spec.max_pixels)
        source_format = image.format or "unknown"
        try:
            avatar = _square(image, spec.size)
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise _too_many_pixels(spec.max_pixels) from None
        except (*_DECODE_ERRORS, MemoryError) as exc:
            raise _decode_failure(exc) from None
    thumbnail_side = min(spec.thumbnail_size, avatar.width)
    thumbnail = avatar.resize(
        (thumbnail_side, thumbnail_side), Image.Resampling.LANCZOS, reducing_gap=_REDUCING_GAP
    )
    return EncodedAvatar(
        avatar=_webp(avatar, spec.quality),
        thumbnail=_webp(thumbnail, spec.quality),
        size=avatar.width,
        thumbnail_size=thumbnail_side,
        source_format=source_format,
        source_width=width,
        source_height=height,
    )
