"""Files decoded ahead of the model: images to ``H x W x C`` uint8 arrays, audio to float32
samples.

The decoders themselves live in :mod:`squall.media` (shared with the chat models that read
pictures); here are the ``column_handling`` options that choose them, checked, and the check
that the model's signature can hold the arrays. Decoding runs in the fetch threads, so it
overlaps the model's work on earlier batches, as reading does.
"""

from __future__ import annotations

from typing import Any

from squall.errors import InvalidSpecError
from squall.media import IMAGE_MODES, AudioDecoder, ImageDecoder

__all__ = [
    "AUDIO_OPTIONS",
    "IMAGE_MODES",
    "IMAGE_OPTIONS",
    "AudioDecoder",
    "ImageDecoder",
    "audio_options",
    "check_decoded_inputs",
    "decoder_for",
    "image_options",
]

IMAGE_OPTIONS = ("image_mode", "image_size")
AUDIO_OPTIONS = ("audio_sample_rate", "audio_mono")


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
            or not all(_positive_int(d) for d in size)
        ):
            raise InvalidSpecError(
                f"column_handling[{column!r}] image_size {size!r} must be None or "
                "(height, width), two positive ints"
            )
        size = [int(size[0]), int(size[1])]
    return {"image_mode": mode.upper(), "image_size": size}


def audio_options(column: str, how: dict[str, Any]) -> dict[str, Any]:
    """The decode options of a column_handling entry, checked: ``audio_sample_rate`` (Hz, or
    None for each file's own), ``audio_mono``."""
    rate = how.get("audio_sample_rate")
    if rate is not None and not _positive_int(rate):
        raise InvalidSpecError(
            f"column_handling[{column!r}] audio_sample_rate {rate!r} must be None or a "
            "positive int (samples a second, e.g. 16000)"
        )
    mono = how.get("audio_mono", True)
    if not isinstance(mono, bool):
        raise InvalidSpecError(
            f"column_handling[{column!r}] audio_mono {mono!r} must be True (channels averaged) "
            "or False (every channel kept)"
        )
    return {"audio_sample_rate": None if rate is None else int(rate), "audio_mono": mono}


def _positive_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def decoder_for(how: list[Any]) -> ImageDecoder | AudioDecoder | None:
    """The decoder of a plan's file column (``[input_format, convert_to, options?]``), or
    None when its files are handed over encoded, not decoded."""
    options = how[2] if len(how) > 2 else {}
    if how[1] == "image":
        return ImageDecoder.from_options(options)
    if how[1] == "audio":
        return AudioDecoder.from_options(options)
    return None


def check_decoded_inputs(file_columns: dict[str, list[Any]], inputs: list[Any]) -> None:
    """Refuse a decoded column whose signature input cannot hold its arrays.

    ``inputs`` are the function's input specs, in the order of the model columns; a decoded
    column's spec must be a tensor feature whose fixed dimensions match the arrays' shape
    (and, for audio, whose type is FLOAT: the samples are float32).
    """
    by_name = {spec.name.lower(): spec for spec in inputs}
    for column, how in file_columns.items():
        decoder = decoder_for(how)
        spec = by_name.get(column.lower())
        if decoder is None or spec is None:
            continue
        shape = getattr(spec, "shape", None)
        if isinstance(decoder, AudioDecoder):
            _check_audio(column, decoder, spec, shape)
            continue
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


def _check_audio(column: str, decoder: AudioDecoder, spec: Any, shape: Any) -> None:
    wanted = f"FeatureSpec({spec.name!r}, DataType.FLOAT, shape={decoder.shape})"
    what = "(samples,)" if decoder.mono else "(samples, channels)"
    dtype = getattr(getattr(spec, "dtype", None), "name", None)
    if shape is None or len(shape) != len(decoder.shape) or dtype != "FLOAT":
        raise InvalidSpecError(
            f"column_handling column {column!r} is decoded to float32 samples {what} "
            f"(audio_mono={decoder.mono}), but the signature's input {spec!r} is not a "
            f"{len(decoder.shape)}-dimensional FLOAT tensor: log the model with {wanted}"
        )
    if shape[0] != -1:
        raise InvalidSpecError(
            f"column_handling column {column!r} is decoded to float32 samples {what}, whose "
            f"number varies from file to file, which does not fit the signature's input shape "
            f"{tuple(shape)}: log the model with {wanted}"
        )
