"""Images decoded in the fetch threads: formats, modes, resizing, bad files, the byte budget."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from PIL import Image

import squall
from squall.batch import FileEncoding, InputSpec
from squall.batch.files import FileFailure, FileFetcher, first_failure
from squall.errors import InputFileError, InvalidSpecError
from tests.batch import decoding


def encoded(image: Image.Image, fmt: str, **save: object) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format=fmt, **save)
    return buf.getvalue()


def gradient(width: int, height: int) -> np.ndarray:
    """An RGB image whose pixels differ (so a wrong orientation or channel order shows)."""
    y, x = np.mgrid[0:height, 0:width]
    return np.stack([x * 7 % 256, y * 11 % 256, (x + y) * 3 % 256], axis=-1).astype(np.uint8)


def put(session: squall.Session, tmp_path: Path, name: str, data: bytes) -> str:
    return decoding.put(session, tmp_path, name, data, stage="pics")


def decode_all(session: squall.Session, paths: list, options: dict, **kw: object) -> tuple:
    return decoding.decode_all(session, paths, "image", options, **kw)


@pytest.fixture
def pics(session: squall.Session) -> squall.Session:
    session.create_stage("pics")
    return session


RGB = {"image_mode": "RGB", "image_size": None}


def test_png_and_jpeg_decode_to_height_width_channels_uint8(pics, tmp_path):
    pixels = gradient(40, 30)
    png = put(pics, tmp_path, "a.png", encoded(Image.fromarray(pixels), "PNG"))
    jpg = put(pics, tmp_path, "b.jpg", encoded(Image.fromarray(pixels), "JPEG", quality=95))
    _, (a, b) = decode_all(pics, [png, jpg], RGB)
    assert a.dtype == np.uint8 and a.shape == (30, 40, 3)
    assert np.array_equal(a, pixels)  # PNG is lossless
    assert b.shape == (30, 40, 3)
    assert np.abs(b.astype(int) - pixels).mean() < 8  # JPEG is close


def test_grey_and_rgba_images_convert_to_the_mode_asked(pics, tmp_path):
    grey = np.arange(12 * 10, dtype=np.uint8).reshape(10, 12)
    rgba = np.dstack([gradient(12, 10), np.full((10, 12), 128, np.uint8)])
    g = put(pics, tmp_path, "g.png", encoded(Image.fromarray(grey, "L"), "PNG"))
    c = put(pics, tmp_path, "c.png", encoded(Image.fromarray(rgba, "RGBA"), "PNG"))
    _, (as_grey, rgba_as_grey) = decode_all(pics, [g, c], {"image_mode": "L"})
    assert as_grey.shape == (10, 12, 1) and np.array_equal(as_grey[..., 0], grey)
    assert rgba_as_grey.shape == (10, 12, 1)
    _, (grey_rgb, rgba_rgb) = decode_all(pics, [g, c], RGB)
    assert grey_rgb.shape == (10, 12, 3) and np.array_equal(grey_rgb[..., 1], grey)
    assert np.array_equal(rgba_rgb, rgba[..., :3])
    _, (kept,) = decode_all(pics, [c], {"image_mode": "RGBA"})
    assert np.array_equal(kept, rgba)


def test_image_size_resizes_every_image_to_height_width(pics, tmp_path):
    wide = put(pics, tmp_path, "w.png", encoded(Image.fromarray(gradient(64, 20)), "PNG"))
    big = put(pics, tmp_path, "big.jpg", encoded(Image.fromarray(gradient(400, 300)), "JPEG"))
    _, out = decode_all(pics, [wide, big, None], {"image_mode": "RGB", "image_size": (24, 32)})
    assert [a.shape for a in out[:2]] == [(24, 32, 3), (24, 32, 3)]
    assert out[2] is None  # a null path stays None


def test_a_corrupt_file_fails_naming_its_path_and_row(pics, tmp_path):
    good = put(pics, tmp_path, "ok.png", encoded(Image.fromarray(gradient(8, 8)), "PNG"))
    bad = put(pics, tmp_path, "broken.png", b"\x89PNG\r\n\x1a\nnot really a png")
    with pytest.raises(InputFileError, match=r"@pics/broken\.png \(column 'P', input row 2\)") as e:
        decode_all(pics, [good, good, bad, good], RGB)
    assert "could not be decoded as an image" in str(e.value)
    assert e.value.row == 2 and e.value.path == bad


def test_with_keep_going_a_corrupt_file_becomes_that_rows_failure(pics, tmp_path):
    good = put(pics, tmp_path, "ok.png", encoded(Image.fromarray(gradient(8, 8)), "PNG"))
    bad = put(pics, tmp_path, "broken.jpg", b"\xff\xd8\xff garbage")
    _, out = decode_all(pics, [good, bad, good], RGB, keep_going=True)
    assert isinstance(out[1], FileFailure)
    assert [type(v) for v in (out[0], out[2])] == [np.ndarray, np.ndarray]
    failed = first_failure({"P": out})
    assert failed is not None and failed.row == 1 and failed.path == bad


def test_decoded_arrays_are_held_within_the_byte_budget(pics, tmp_path):
    # Each 64x64 RGB image decodes to 12,288 bytes: a 30,000-byte budget holds two at a time,
    # counting the file's bytes while it decodes.
    paths = [
        put(pics, tmp_path, f"i{i}.png", encoded(Image.fromarray(gradient(64, 64) + i), "PNG"))
        for i in range(12)
    ]
    fetcher = FileFetcher(
        pics.stages,
        {"P": ["full_stage_path", "image", RGB]},
        bytes_in_flight=30_000,
        threads=4,
    )
    sizes = []
    for rows, values in fetcher.resolve(pa.table({"P": paths}).to_batches(max_chunksize=8)):
        sizes.append(rows.num_rows)
        assert all(v.shape == (64, 64, 3) for v in values["P"])
    assert sum(sizes) == 12 and max(sizes) <= 2
    assert 12_288 <= fetcher.peak_bytes <= 30_000


def test_image_options_are_checked_in_the_input_spec():
    ok = InputSpec(
        column_handling={
            "P": {"convert_to": FileEncoding.IMAGE, "image_mode": "rgb", "image_size": (8, 9)}
        }
    )
    assert ok.file_columns["P"].options == {"image_mode": "RGB", "image_size": [8, 9]}
    with pytest.raises(InvalidSpecError, match="image_mode 'CMYK'"):
        InputSpec(column_handling={"P": {"convert_to": "image", "image_mode": "CMYK"}})
    with pytest.raises(InvalidSpecError, match=r"image_size \(0, 4\)"):
        InputSpec(column_handling={"P": {"convert_to": "image", "image_size": (0, 4)}})
    with pytest.raises(InvalidSpecError, match="unknown key"):
        InputSpec(column_handling={"P": {"convert_to": "raw_bytes", "image_mode": "RGB"}})


@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_the_budget_estimate_reads_the_size_from_the_header(fmt):
    """A PNG's size is read from its header bytes; other formats through Pillow; a file that
    does not parse is estimated 0 (it then fails to decode, naming its path)."""
    from squall.media.image import ImageDecoder

    data = encoded(Image.fromarray(gradient(40, 30)), fmt)
    rgba = ImageDecoder.from_options({"image_mode": "RGBA"})
    f = io.BytesIO(data)
    assert rgba.estimate(f) == 40 * 30 * 4 and f.tell() == 0
    assert rgba.decode(f.read()).shape == (30, 40, 4)
    assert rgba.estimate(io.BytesIO(data[:10])) == 0
