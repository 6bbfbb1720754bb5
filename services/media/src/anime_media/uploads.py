"""One file field of a multipart body, read as it streams in and never past a byte limit.

Starlette's `request.form()` limits only the non-file parts (`max_part_size`): a
file part of any size is spooled to disk before the route sees it. This reader
keeps the one field it wants in memory, counts every byte of the body as it
arrives, and stops reading at the first byte over the limit.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from python_multipart import MultipartParser
from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import parse_options_header
from starlette.requests import Request

from anime_common import (
    BadRequestError,
    PayloadTooLargeError,
    UnsupportedMediaTypeError,
    ValidationError,
)

if TYPE_CHECKING:
    # Declared for type checkers only by python_multipart.
    from python_multipart.multipart import MultipartCallbacks

# Room for the boundaries and part headers around the file, and a few small fields.
MULTIPART_FRAMING_BYTES = 64 * 1024
_MIB = 1024 * 1024


def describe_size(size: int) -> str:
    if size % _MIB == 0:
        return f"{size // _MIB} MiB"
    if size % 1024 == 0:
        return f"{size // 1024} KiB"
    return f"{size} bytes"


class _FieldCollector:
    """Parser callbacks keeping the bytes of one named part, bounded by `max_bytes`."""

    def __init__(self, field: str, max_bytes: int) -> None:
        self.field = field.encode()
        self.max_bytes = max_bytes
        self.data = bytearray()
        self.found = False
        self.ended = False
        self._in_field = False
        self._header_name = bytearray()
        self._header_value = bytearray()
        self._disposition = b""

    def callbacks(self) -> MultipartCallbacks:
        return {
            "on_part_begin": self._part_begin,
            "on_part_data": self._part_data,
            "on_part_end": self._part_end,
            "on_header_field": self._header_field,
            "on_header_value": self._header_val,
            "on_header_end": self._header_end,
            "on_headers_finished": self._headers_finished,
            "on_end": self._end,
        }

    def _part_begin(self) -> None:
        self._disposition = b""
        self._in_field = False

    def _header_field(self, data: bytes, start: int, end: int) -> None:
        self._header_name += data[start:end]

    def _header_val(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]

    def _header_end(self) -> None:
        if bytes(self._header_name).strip().lower() == b"content-disposition":
            self._disposition = bytes(self._header_value)
        self._header_name.clear()
        self._header_value.clear()

    def _headers_finished(self) -> None:
        _, options = parse_options_header(self._disposition)
        if options.get(b"name") != self.field:
            return
        if self.found:
            raise ValidationError.for_field(self.field.decode(), "Send exactly one file")
        self.found = True
        self._in_field = True

    def _part_data(self, data: bytes, start: int, end: int) -> None:
        if not self._in_field:
            return
        if len(self.data) + (end - start) > self.max_bytes:
            raise PayloadTooLargeError(f"The file may be at most {describe_size(self.max_bytes)}")
        self.data += data[start:end]

    def _part_end(self) -> None:
        self._in_field = False

    def _end(self) -> None:
        self.ended = True


async def read_file_field(request: Request, *, field: str, max_bytes: int) -> bytes:
    """The bytes of `field`; 415 unless multipart, 413 over the limit, 400 malformed, 422 absent.

    Nothing about the part (file name, declared type) is returned: the content
    alone tells what it is.
    """
    media_type, params = parse_options_header(request.headers.get("content-type"))
    if media_type != b"multipart/form-data":
        raise UnsupportedMediaTypeError("Send the file as multipart/form-data")
    boundary = params.get(b"boundary")
    if not boundary:
        raise BadRequestError("The multipart boundary is missing")
    body_limit = max_bytes + MULTIPART_FRAMING_BYTES
    too_large = f"The file may be at most {describe_size(max_bytes)}"
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > body_limit:
        # Refused before a single byte of the body is read.
        raise PayloadTooLargeError(too_large)

    collector = _FieldCollector(field, max_bytes)
    try:
        parser = MultipartParser(boundary, collector.callbacks())
        received = 0
        async for chunk in request.stream():
            received += len(chunk)
            if received > body_limit:
                # Chunked bodies declare no length: stop at the first chunk past the limit.
                raise PayloadTooLargeError(too_large)
            parser.write(chunk)
        parser.finalize()
    except (MultipartParseError, ValueError):
        # ValueError: python_multipart's refusal of an over-long boundary.
        raise BadRequestError("The multipart body is malformed") from None
    if not collector.ended:
        raise BadRequestError("The multipart body ends early")
    if not collector.found:
        raise ValidationError.for_field(field, "A file is required")
    if not collector.data:
        raise ValidationError.for_field(field, "The file is empty")
    return bytes(collector.data)
