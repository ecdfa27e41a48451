"""run_batch with convert_to=IMAGE: the model gets decoded arrays; a corrupt image is its row's _ERROR."""

from __future__ import annotations

import pandas as pd
import pytest
from PIL import Image

import squall
from squall.batch import FileEncoding, InputFormat, InputSpec, JobSpec, OutputSpec
from squall.errors import InvalidSpecError
from squall.model import custom_model
from squall.model.signature import DataType, FeatureSpec, ModelSignature
from squall.registry import Registry


class Shapes(custom_model.CustomModel):
    """The shape and the mean red of each decoded image."""

    @custom_model.inference_api
    def predict(self, X: pd.DataFrame) -> pd.DataFrame:
        return pd.DataFrame(
            {
                "shape": ["x".join(map(str, a.shape)) for a in X["IMG"]],
                "red": [float(a[..., 0].mean()) for a in X["IMG"]],
            }
        )


def signature(shape: tuple[int, int, int]) -> ModelSignature:
    return ModelSignature(
        inputs=[FeatureSpec("IMG", DataType.UINT8, shape=shape)],
        outputs=[FeatureSpec("shape", DataType.STRING), FeatureSpec("red", DataType.DOUBLE)],
    )


def decoded(size: tuple[int, int] | None) -> InputSpec:
    return InputSpec(
        column_handling={
            "IMG": {
                "input_format": InputFormat.FULL_STAGE_PATH,
                "convert_to": FileEncoding.IMAGE,
                "image_mode": "RGB",
                "image_size": size,
            }
        }
    )


def test_images_are_decoded_and_resized_for_the_model_and_a_corrupt_one_is_isolated(
    session: squall.Session, tmp_path
):
    folder = tmp_path / "imgs"
    folder.mkdir()
    for i in range(10):
        Image.new("RGB", (20 + i, 10), (10 * i, 0, 0)).save(folder / f"i{i}.png")
    (folder / "i9.png").write_bytes(b"\x89PNG\r\n\x1a\ntruncated")
    session.create_stage("imgs")
    session.create_stage("out")
    session.put(str(folder / "*.png"), "@imgs/")
    registry = Registry(session)
    mv = registry.log_model(
        Shapes(custom_model.ModelContext()),
        model_name="shapes",
        signatures={"predict": signature((8, 12, 3))},
    )
    X = squall.list_stage_files("@imgs", column_name="IMG")
    job = mv.run_batch(
        X,
        input_spec=decoded((8, 12)),
        output_spec=OutputSpec(stage_location="@out/fixed/"),
        job_spec=JobSpec(on_error="continue", max_batch_rows=4, num_workers=1, block=True),
    )
    assert job.status == "DONE", job.get_logs()
    out = session.read.parquet("@out/fixed/").to_pandas().sort_values("IMG")
    good = out[out["IMG"] != "@imgs/i9.png"]
    assert good["shape"].tolist() == ["8x12x3"] * 9
    assert good["red"].tolist() == [10.0 * i for i in range(9)]
    assert good["_ERROR"].isna().all()
    bad = out[out["IMG"] == "@imgs/i9.png"].iloc[0]
    assert pd.isna(bad["red"])
    assert bad["_ERROR"].startswith("InputFileError: file @imgs/i9.png (column 'IMG', input row")
    assert "could not be decoded as an image" in bad["_ERROR"]

    # Without image_size each image keeps its own size (a ragged signature).
    ragged = registry.log_model(
        Shapes(custom_model.ModelContext()),
        model_name="ragged",
        signatures={"predict": signature((-1, -1, 3))},
    )
    job = ragged.run_batch(
        squall.list_stage_files("@imgs", pattern=r".*i[0-8]\.png", column_name="IMG"),
        input_spec=decoded(None),
        output_spec=OutputSpec(stage_location="@out/ragged/"),
        job_spec=JobSpec(block=True),
    )
    assert job.status == "DONE", job.get_logs()
    out = session.read.parquet("@out/ragged/").to_pandas().sort_values("IMG")
    assert out["shape"].tolist() == [f"10x{20 + i}x3" for i in range(9)]

    # A signature that cannot hold the arrays is refused before anything runs.
    with pytest.raises(InvalidSpecError, match=r"do not fit the signature's input shape"):
        mv.run_batch(
            X,
            input_spec=decoded((16, 16)),
            output_spec=OutputSpec(stage_location="@out/refused/"),
        )


class Loudness(custom_model.CustomModel):
    """The number of samples and the peak of each decoded sound."""

    @custom_model.inference_api
    def predict(self, X: pd.DataFrame) -> pd.DataFrame:
        return pd.DataFrame(
            {
                "samples": [len(a) for a in X["SOUND"]],
                "dtype": [str(a.dtype) for a in X["SOUND"]],
                "peak": [float(abs(a).max()) for a in X["SOUND"]],
            }
        )


def test_audio_is_decoded_and_resampled_for_the_model(session: squall.Session, tmp_path):
    sf = pytest.importorskip("soundfile")
    import numpy as np

    folder = tmp_path / "sounds"
    folder.mkdir()
    for i, rate in enumerate([8000, 16000, 22050]):
        t = np.arange(rate) / rate  # one second
        sf.write(folder / f"s{i}.wav", 0.1 * (i + 1) * np.sin(2 * np.pi * 200 * t), rate)
    session.create_stage("sounds")
    session.create_stage("out")
    session.put(str(folder / "*.wav"), "@sounds/")
    mv = Registry(session).log_model(
        Loudness(custom_model.ModelContext()),
        model_name="loudness",
        signatures={
            "predict": ModelSignature(
                inputs=[FeatureSpec("SOUND", DataType.FLOAT, shape=(-1,))],
                outputs=[
                    FeatureSpec("samples", DataType.INT64),
                    FeatureSpec("dtype", DataType.STRING),
                    FeatureSpec("peak", DataType.DOUBLE),
                ],
            )
        },
    )
    job = mv.run_batch(
        squall.list_stage_files("@sounds", column_name="SOUND"),
        input_spec=InputSpec(
            column_handling={
                "SOUND": {
                    "input_format": InputFormat.FULL_STAGE_PATH,
                    "convert_to": FileEncoding.AUDIO,
                    "audio_sample_rate": 16000,
                }
            }
        ),
        output_spec=OutputSpec(stage_location="@out/audio/"),
        job_spec=JobSpec(block=True),
    )
    assert job.status == "DONE", job.get_logs()
    out = session.read.parquet("@out/audio/").to_pandas().sort_values("SOUND")
    assert out["samples"].tolist() == [16000] * 3
    assert set(out["dtype"]) == {"float32"}
    assert np.allclose(out["peak"], [0.1, 0.2, 0.3], atol=0.01)
