"""Decode image files to ``H x W x C`` uint8 arrays with Pillow.

``mode`` is the array's channels (``"RGB"``: 3, ``"RGBA"``: 4, ``"L"``: 1, grey); ``size``
is ``(height, width)``, as in Ray Data's ``read_images``: every image is resized to it
(bilinear), or keeps its own size when it is None. A JPEG asked at a smaller size is
decoded at a reduced scale first (libjpeg's DCT scaling), which is much faster than
decoding it whole and then shrinking it. Pillow releases the GIL while it decodes, so
threads decode in parallel.
"""

from __future__ import annotations

import io
import struct
from dataclasses import dataclass
from typing import Any

from squall.errors import MissingExtraError

__all__ = ["IMAGE_MODES", "ImageDecoder"]

#: Modes an image may be decoded to, and their number of channels.
IMAGE_MODES = {"RGB": 3, "RGBA": 4, "L": 1}


_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# Pillow format names by a file's first three bytes
_FORMATS = {_PNG_SIGNATURE[:3]: ["PNG"], b"\xff\xd8\xff": ["JPEG"]}


def _pillow() -> Any:
    try:
        from PIL import Image
    except ImportError:
        raise MissingExtraError("pillow", "images", "convert_to=FileEncoding.IMAGE") from None
    return Image


@dataclass(frozen=True)
class ImageDecoder:
    """Decodes one file's bytes to an ``H x W x C`` uint8 numpy array."""

    mode: str = "RGB"
    size: tuple[int, int] | None = None  # (height, width)

    #: What a file that fails is said not to be, in messages.
    what = "an image"

    @classmethod
    def from_options(cls, options: dict[str, Any]) -> ImageDecoder:
        size = options.get("image_size")
        return cls(options.get("image_mode", "RGB"), None if size is None else tuple(size))  # type: ignore[arg-type]

    def require(self) -> None:
        """Raise MissingExtraError now when Pillow is not installed."""
        _pillow()

    @property
    def channels(self) -> int:
        return IMAGE_MODES[self.mode]

    @property
    def shape(self) -> tuple[int, int, int]:
        """The arrays' shape; -1 for a dimension that varies from image to image."""
        height, width = self.size if self.size is not None else (-1, -1)
        return (height, width, self.channels)

    def estimate(self, f: Any) -> int:
        """The bytes of the decoded array of the image in open file ``f`` (rewound after).

        From the requested size, else from the image's header; 0 when the header does not
        parse (the file then fails to decode).
        """
        if self.size is not None:
            return self.size[0] * self.size[1] * self.channels
        head = f.read(24)
        f.seek(0)
        if head[:8] == _PNG_SIGNATURE and head[12:16] == b"IHDR":  # a PNG's size, read directly
            width, height = struct.unpack(">II", head[16:24])
            return width * height * self.channels
        image_module = _pillow()
        try:
            with image_module.open(f) as img:
                width, height = img.size
        except Exception:
            return 0
        finally:
            f.seek(0)
        return width * height * self.channels

    def decode(self, data: bytes) -> Any:
        image_module = _pillow()
        # The format named from the file's signature: Pillow then tries no other reader.
        formats = _FORMATS.get(data[:3])
        with image_module.open(io.BytesIO(data), formats=formats) as img:
            if self.size is not None:
                height, width = self.size
                if img.format == "JPEG":
                    img.draft(self.mode, (width, height))
                img = img.convert(self.mode) if img.mode != self.mode else img
                if img.size != (width, height):
                    img = img.resize((width, height), image_module.Resampling.BILINEAR)
            else:
                img = img.convert(self.mode) if img.mode != self.mode else img
                img.load()
            return _pixels(img)


def _pixels(img: Any) -> Any:
    """An 8-bit image's pixels as a read-only ``H x W x C`` array (as ``np.asarray`` gives
    them, at less than half its cost on a small image)."""
    import numpy as np

    width, height = img.size
    channels = IMAGE_MODES[img.mode]
    return np.frombuffer(img.tobytes(), dtype=np.uint8).reshape(height, width, channels)
