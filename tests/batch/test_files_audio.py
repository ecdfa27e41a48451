"""Audio decoded in the fetch threads: WAV and FLAC, mono, resampling, bad files, the budget."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

import squall
from squall.batch import FileEncoding, InputSpec
from squall.batch.files import FileFailure, FileFetcher, first_failure
from squall.batch.files.decode import check_decoded_inputs
from squall.errors import InputFileError, InvalidSpecError
from squall.model.signature import DataType, FeatureSpec
from tests.batch import decoding

sf = pytest.importorskip("soundfile")


def tone(rate: int, seconds: float, hz: float = 440.0) -> np.ndarray:
    t = np.arange(int(rate * seconds)) / rate
    return (0.5 * np.sin(2 * np.pi * hz * t)).astype(np.float32)


def encoded(samples: np.ndarray, rate: int, fmt: str, subtype: str | None = None) -> bytes:
    buf = io.BytesIO()
    sf.write(buf, samples, rate, format=fmt, subtype=subtype)
    return buf.getvalue()


def put(session: squall.Session, tmp_path: Path, name: str, data: bytes) -> str:
    return decoding.put(session, tmp_path, name, data, stage="sounds")


def decode_all(session: squall.Session, paths: list, options: dict, **kw: object) -> tuple:
    return decoding.decode_all(session, paths, "audio", options, **kw)


@pytest.fixture
def sounds(session: squall.Session) -> squall.Session:
    session.create_stage("sounds")
    return session


def test_wav_and_flac_decode_to_float32_samples_at_their_own_rate(sounds, tmp_path):
    left, right = tone(8000, 0.25), tone(8000, 0.25, hz=1000)
    stereo = np.stack([left, right], axis=1)
    wav = put(sounds, tmp_path, "a.wav", encoded(stereo, 8000, "WAV", "FLOAT"))
    flac = put(sounds, tmp_path, "b.flac", encoded(left, 8000, "FLAC"))
    _, (a, b, none) = decode_all(sounds, [wav, flac, None], {"audio_mono": False})
    assert a.dtype == np.float32 and a.shape == (2000, 2)
    assert np.array_equal(a, stereo)  # float WAV is exact
    assert b.dtype == np.float32 and b.shape == (2000, 1)
    assert np.abs(b[:, 0] - left).max() < 1e-4  # FLAC holds 16-bit samples
    assert none is None
    _, (mono,) = decode_all(sounds, [wav], {})  # mono by default: the channels averaged
    assert mono.shape == (2000,) and np.allclose(mono, (left + right) / 2, atol=1e-7)


def test_audio_is_resampled_to_the_rate_asked(sounds, tmp_path):
    rate = 22050
    src = put(sounds, tmp_path, "t.wav", encoded(tone(rate, 0.5), rate, "WAV", "PCM_16"))
    _, (down,) = decode_all(sounds, [src], {"audio_sample_rate": 16000, "audio_mono": True})
    assert down.dtype == np.float32 and down.shape == (8000,)  # ceil(11025 * 16000 / 22050)
    # Away from the edges (the filter's warm-up), the same tone sampled at 16 kHz.
    assert np.abs(down[200:-200] - tone(16000, 0.5)[200:-200]).max() < 0.01
    _, (up,) = decode_all(sounds, [src], {"audio_sample_rate": 44100})
    assert up.shape == (22050,)
    assert np.abs(up[400:-400] - tone(44100, 0.5)[400:-400]).max() < 0.01


def test_a_file_that_is_not_audio_fails_naming_its_path_and_row(sounds, tmp_path):
    good = put(sounds, tmp_path, "ok.wav", encoded(tone(8000, 0.1), 8000, "WAV"))
    bad = put(sounds, tmp_path, "broken.wav", b"RIFF\x00\x00\x00\x00WAVEnot really")
    with pytest.raises(
        InputFileError, match=r"@sounds/broken\.wav \(column 'P', input row 1\)"
    ) as e:
        decode_all(sounds, [good, bad, good], {})
    assert "could not be decoded as audio: ValueError: Error in WAV file" in str(e.value)
    assert "BytesIO" not in str(e.value)
    assert e.value.row == 1 and e.value.path == bad

    _, out = decode_all(sounds, [good, bad, good], {}, keep_going=True)
    assert isinstance(out[1], FileFailure)
    assert [v.shape for v in (out[0], out[2])] == [(800,), (800,)]
    failed = first_failure({"P": out})
    assert failed is not None and failed.row == 1 and failed.path == bad


def test_decoded_samples_are_held_within_the_byte_budget(sounds, tmp_path):
    # Each 0.5 s at 8 kHz, 16-bit stereo: a 16 KB file; decoding holds both channels as
    # float32 (32 KB) plus the mono result (16 KB), then the result alone: a 100,000-byte
    # budget holds three decoded files, or two and one decoding.
    data = encoded(np.stack([tone(8000, 0.5)] * 2, axis=1), 8000, "WAV", "PCM_16")
    paths = [put(sounds, tmp_path, f"s{i}.wav", data) for i in range(10)]
    fetcher = FileFetcher(
        sounds.stages, {"A": ["full_stage_path", "audio", {}]}, bytes_in_flight=100_000, threads=4
    )
    sizes = []
    for rows, values in fetcher.resolve(pa.table({"A": paths}).to_batches(max_chunksize=8)):
        sizes.append(rows.num_rows)
        assert all(v.shape == (4000,) for v in values["A"])
    assert sum(sizes) == 10 and max(sizes) <= 3
    assert 64_000 <= fetcher.peak_bytes <= 100_000  # a decoding file counted whole


def test_audio_options_are_checked_in_the_input_spec():
    ok = InputSpec(
        column_handling={"A": {"convert_to": FileEncoding.AUDIO, "audio_sample_rate": 16000}}
    )
    assert ok.file_columns["A"].options == {"audio_sample_rate": 16000, "audio_mono": True}
    with pytest.raises(InvalidSpecError, match="audio_sample_rate 0"):
        InputSpec(column_handling={"A": {"convert_to": "audio", "audio_sample_rate": 0}})
    with pytest.raises(InvalidSpecError, match="audio_mono 'yes'"):
        InputSpec(column_handling={"A": {"convert_to": "audio", "audio_mono": "yes"}})
    with pytest.raises(InvalidSpecError, match="unknown key"):
        InputSpec(column_handling={"A": {"convert_to": "image", "audio_mono": True}})


def test_the_signature_must_be_a_ragged_float_tensor():
    mono = {"A": ["full_stage_path", "audio", {"audio_sample_rate": None, "audio_mono": True}]}
    check_decoded_inputs(mono, [FeatureSpec("A", DataType.FLOAT, shape=(-1,))])
    stereo = {"A": ["full_stage_path", "audio", {"audio_mono": False}]}
    check_decoded_inputs(stereo, [FeatureSpec("a", DataType.FLOAT, shape=(-1, 2))])
    with pytest.raises(
        InvalidSpecError, match=r"FeatureSpec\('A', DataType.FLOAT, shape=\(-1,\)\)"
    ):
        check_decoded_inputs(mono, [FeatureSpec("A", DataType.DOUBLE, shape=(-1,))])
    with pytest.raises(InvalidSpecError, match="not a 2-dimensional FLOAT tensor"):
        check_decoded_inputs(stereo, [FeatureSpec("A", DataType.FLOAT, shape=(-1,))])
    with pytest.raises(InvalidSpecError, match=r"number varies from file to file"):
        check_decoded_inputs(mono, [FeatureSpec("A", DataType.FLOAT, shape=(16000,))])


def test_without_soundfile_the_fetcher_names_the_extra_to_install(sounds, monkeypatch):
    import sys

    from squall.errors import MissingExtraError

    monkeypatch.setitem(sys.modules, "soundfile", None)  # what `import` sees when it is absent
    with pytest.raises(MissingExtraError, match=r"pip install 'squall\[audio\]'"):
        FileFetcher(sounds.stages, {"A": ["full_stage_path", "audio", {}]})
