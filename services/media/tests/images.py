"""Real images, made with Pillow for the tests, and a PNG header that lies about its size."""

from __future__ import annotations

import io
import struct
import zlib
from typing import Any

from PIL import Image

# Pillow's save format name -> the content type a browser would declare.
FORMATS = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp", "GIF": "image/gif"}


def picture(width: int, height: int, *, mode: str = "RGB") -> Image.Image:
    """A picture with structure (a gradient and noise), so encoders work as on a photo."""
    gradient = Image.linear_gradient("L").resize((width, height))
    noise = Image.effect_noise((width, height), 48)
    image = Image.merge("RGB", [gradient, gradient.transpose(Image.Transpose.ROTATE_180), noise])
    return image if mode == "RGB" else image.convert(mode)


def encode(image: Image.Image, image_format: str, **options: Any) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, image_format, **options)
    return buffer.getvalue()


def image_bytes(image_format: str, width: int = 640, height: int = 480, **options: Any) -> bytes:
    image = picture(width, height)
    if image_format == "GIF":
        image = image.convert("P")
    return encode(image, image_format, **options)


def _chunk(kind: bytes, data: bytes) -> bytes:
    return (
        struct.pack(">I", len(data))
        + kind
        + data
        + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    )


def png_declaring(width: int, height: int) -> bytes:
    """A valid, tiny PNG whose header claims `width` x `height`, as a decompression bomb does.

    Decoding it would need width * height * 3 bytes; the IDAT holds one row only.
    """
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    row = zlib.compress(b"\x00" + b"\x00" * 3 * min(width, 16))
    return (
        b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", row) + _chunk(b"IEND", b"")
    )


def decoded(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def png_with_chunk(kind: bytes, body: bytes) -> bytes:
    """A valid 8x8 PNG with one more chunk right after IHDR (read by Image.open already)."""
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8)).save(buffer, "PNG")
    raw = buffer.getvalue()
    return raw[:33] + _chunk(kind, body) + raw[33:]


# 50 MiB of zeros compressed to ~50 KB: a text or profile chunk that inflates like a bomb.
INFLATING = zlib.compress(b"\x00" * (50 << 20), 9)
