"""Decode image files ahead of the model: each row gets an ``H x W x C`` uint8 array.

Decoding runs in the fetch threads (Pillow releases the GIL while it decodes), so it
overlaps the model's work on earlier batches, as reading does. ``image_mode`` is the
array's channels (``"RGB"``: 3, ``"RGBA"``: 4, ``"L"``: 1, grey); ``image_size`` is
``(height, width)``, as in Ray Data's ``read_images``: every image is resized to it
(bilinear), or keeps its own size when it is None. A JPEG asked at a smaller size is
decoded at a reduced scale first (libjpeg's DCT scaling), which is much faster than
decoding it whole and then shrinking it.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any

from squall.errors import InvalidSpecError, MissingExtraError

__all__ = ["IMAGE_MODES", "ImageDecoder", "check_decoded_inputs", "image_options"]

#: Modes an image may be decoded to, and their number of channels.
IMAGE_MODES = {"RGB": 3, "RGBA": 4, "L": 1}
IMAGE_OPTIONS = ("image_mode", "image_size")


def image_options(column: str, how: dict[str, Any]) -> dict[str, Any]:
    """The decode options of a column_handling entry, checked: ``image_mode``, ``image_size``."""
    mode = how.get("image_mode", "RGB")
    if not isinstance(mode, str) or mode.upper() not in IMAGE_MODES:
        raise InvalidSpecError(
            f"column_handling[{column!r}] image_mode {mode!r} is not supported; "
            f"choose one of {', '.join(IMAGE_MODES)}"
        )
    size = how.get("image_size")
    if size is not None:
        if (
            not isinstance(size, list | tuple)
            or len(size) != 2
            or not all(isinstance(d, int) and not isinstance(d, bool) and d > 0 for d in size)
        ):
            raise InvalidSpecError(
                f"column_handling[{column!r}] image_size {size!r} must be None or "
                "(height, width), two positive ints"
            )
        size = [int(size[0]), int(size[1])]
    return {"image_mode": mode.upper(), "image_size": size}


def check_decoded_inputs(file_columns: dict[str, list[Any]], inputs: list[Any]) -> None:
    """Refuse an IMAGE column whose signature input cannot hold its arrays.

    ``inputs`` are the function's input specs, in the order of the model columns; a decoded
    column's spec must be a tensor feature whose fixed dimensions match the arrays' shape.
    """
    by_name = {spec.name.lower(): spec for spec in inputs}
    for column, how in file_columns.items():
        if how[1] != "image":
            continue
        spec = by_name.get(column.lower())
        if spec is None:
            continue
        decoder = ImageDecoder.from_options(how[2] if len(how) > 2 else {})
        shape = getattr(spec, "shape", None)
        wanted = f"FeatureSpec({spec.name!r}, DataType.UINT8, shape={decoder.shape})"
        if shape is None or len(shape) != 3:
            raise InvalidSpecError(
                f"column_handling column {column!r} is decoded to {decoder.shape} arrays "
                f"(height, width, channels), but the signature's input {spec!r} is not a "
                f"3-dimensional tensor: log the model with {wanted}"
            )
        for got, want in zip(shape, decoder.shape, strict=True):
            if got != -1 and got != want:
                raise InvalidSpecError(
                    f"column_handling column {column!r} is decoded to {decoder.shape} arrays "
                    f"(height, width, channels; -1 varies), which do not fit the signature's "
                    f"input shape {tuple(shape)}: set image_size and image_mode to match, or "
                    f"log the model with {wanted}"
                )


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

    @classmethod
    def from_options(cls, options: dict[str, Any]) -> ImageDecoder:
        size = options.get("image_size")
        return cls(options.get("image_mode", "RGB"), None if size is None else tuple(size))  # type: ignore[arg-type]

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
        import numpy as np

        image_module = _pillow()
        with image_module.open(io.BytesIO(data)) as img:
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
            array = np.asarray(img, dtype=np.uint8)
        if array.ndim == 2:
            array = array[:, :, None]
        return array
