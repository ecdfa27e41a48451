"""What a model receives in place of a stage path: the raw bytes, base64, or a data URL.

The MIME type of a data URL comes from the file's first bytes when they carry a known
signature (a PNG is ``image/png`` whatever it is called), else from the file name, else
``application/octet-stream``.
"""

from __future__ import annotations

import base64
import mimetypes
from typing import Any

__all__ = ["encode_file", "encoded_size", "mime_type"]

mimetypes.init()  # once, here: the lazy first-use init is not thread-safe

RAW_BYTES = "raw_bytes"
BASE64 = "base64"
BASE64_DATA_URL = "base64_data_url"
IMAGE = "image"  # decoded to an array by squall.batch.files.decode, not encoded here
AUDIO = "audio"  # the same, to float32 samples
ENCODINGS = (RAW_BYTES, BASE64, BASE64_DATA_URL)

# (offset, magic bytes, MIME type); RIFF containers are told apart by bytes 8..12 below.
_SIGNATURES: tuple[tuple[int, bytes, str], ...] = (
    (0, b"\x89PNG\r\n\x1a\n", "image/png"),
    (0, b"\xff\xd8\xff", "image/jpeg"),
    (0, b"GIF87a", "image/gif"),
    (0, b"GIF89a", "image/gif"),
    (0, b"BM", "image/bmp"),
    (0, b"II*\x00", "image/tiff"),
    (0, b"MM\x00*", "image/tiff"),
    (0, b"%PDF-", "application/pdf"),
    (0, b"fLaC", "audio/flac"),
    (0, b"OggS", "audio/ogg"),
    (0, b"ID3", "audio/mpeg"),
    (4, b"ftyp", "video/mp4"),
)
_RIFF = {b"WEBP": "image/webp", b"WAVE": "audio/wav", b"AVI ": "video/x-msvideo"}


def mime_type(path: str, head: bytes = b"") -> str:
    """The MIME type of a file from its first bytes (``head``), else its name."""
    if head[:4] == b"RIFF" and head[8:12] in _RIFF:
        return _RIFF[head[8:12]]
    for offset, magic, mime in _SIGNATURES:
        if head[offset : offset + len(magic)] == magic:
            return mime
    return mimetypes.guess_type(path, strict=False)[0] or "application/octet-stream"


def encoded_size(size: int, encoding: str) -> int:
    """Bytes held while a file of ``size`` bytes is read and encoded (the budget's unit)."""
    if encoding == RAW_BYTES:
        return size
    # The raw bytes and their base64 text coexist while encoding.
    return size + 4 * ((size + 2) // 3) + 64


def encode_file(data: bytes, path: str, encoding: str) -> Any:
    """``data`` as the model receives it: bytes, a base64 string, or a ``data:`` URL."""
    if encoding == RAW_BYTES:
        return data
    text = base64.b64encode(data).decode("ascii")
    if encoding == BASE64:
        return text
    if encoding == BASE64_DATA_URL:
        return f"data:{mime_type(path, data[:16])};base64,{text}"
    raise ValueError(f"unknown file encoding {encoding!r}; choose one of {', '.join(ENCODINGS)}")
