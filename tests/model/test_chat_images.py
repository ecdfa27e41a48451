"""Chat models' image_url pictures are decoded as FileEncoding.IMAGE columns are: same pixels."""

from __future__ import annotations

import base64
import io

import numpy as np
import pyarrow as pa
import pytest
from PIL import Image

import squall
from squall.batch.files import FileFetcher
from squall.errors import InvalidArgumentError
from squall.model.handlers._hf_messages import ImageReader


def png(array: np.ndarray, mode: str) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(array, mode).save(buf, format="PNG")
    return buf.getvalue()


def test_image_url_pictures_get_the_pixels_a_decoded_image_column_gets(
    session: squall.Session, tmp_path
):
    y, x = np.mgrid[0:6, 0:9]
    rgba = np.stack([x * 20, y * 30, x + y, 255 - x * 9], axis=-1).astype(np.uint8)
    grey = (x * y * 4).astype(np.uint8)
    files = {"rgba.png": png(rgba, "RGBA"), "grey.png": png(grey, "L")}
    session.create_stage("pics")
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
        session.put(str(tmp_path / name), f"@pics/{name}")
    paths = [f"@pics/{name}" for name in files]

    fetcher = FileFetcher(session.stages, {"P": ["full_stage_path", "image", {}]})
    (_, column), *_ = list(fetcher.resolve(pa.table({"P": paths}).to_batches()))
    reader = ImageReader(session.stages, 1 << 20)
    for path, data, decoded in zip(paths, files.values(), column["P"], strict=True):
        from_stage = reader.image(path, 0)
        inline = reader.image("data:image/png;base64," + base64.b64encode(data).decode(), 0)
        assert from_stage.mode == inline.mode == "RGB"
        assert np.array_equal(np.asarray(from_stage), decoded)
        assert np.array_equal(np.asarray(inline), decoded)
    assert np.array_equal(column["P"][0], rgba[..., :3])
    assert np.array_equal(column["P"][1][..., 0], grey)


def test_a_picture_that_does_not_decode_fails_naming_its_row():
    reader = ImageReader(None, 1 << 20)
    bad = "data:image/png;base64," + base64.b64encode(b"\x89PNG\r\n\x1a\nnope").decode()
    with pytest.raises(InvalidArgumentError, match=r"row 7: image 'data:image/png.*cannot be read"):
        reader.image(bad, 7)
