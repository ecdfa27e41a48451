"""Decode audio files to float32 samples with soundfile (libsndfile): WAV, FLAC, Ogg, MP3...

``sample_rate`` resamples every file to that rate (None keeps each file's own rate);
``mono`` averages the channels into one, giving an array of shape ``(samples,)``, else the
array is ``(samples, channels)``. Samples are in [-1, 1], as soundfile reads them.

Resampling is polyphase (scipy's ``resample_poly``, a Kaiser-windowed low-pass FIR, so
downsampling does not alias), by the ratio of the two rates reduced by their greatest common
divisor: 44,100 Hz to 16,000 Hz is up 160, down 441. A file of ``n`` samples gives
``ceil(n * rate / file_rate)``. libsndfile is called through CFFI, which releases the GIL,
so the fetch threads decode in parallel.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass
from typing import Any

from squall.errors import MissingExtraError

__all__ = ["AudioDecoder", "resample"]

_FLOAT32 = 4  # bytes a sample


def _soundfile() -> Any:
    try:
        import soundfile
    except ImportError:
        raise MissingExtraError("soundfile", "audio", "convert_to=FileEncoding.AUDIO") from None
    return soundfile


def resample(samples: Any, rate: int, to: int) -> Any:
    """``samples`` (time on axis 0) at sample rate ``rate`` resampled to ``to``, float32."""
    import numpy as np

    if rate == to or len(samples) == 0:
        return np.ascontiguousarray(samples, dtype=np.float32)
    from scipy.signal import resample_poly

    g = math.gcd(rate, to)
    out = resample_poly(samples, to // g, rate // g, axis=0)
    return np.ascontiguousarray(out, dtype=np.float32)


@dataclass(frozen=True)
class AudioDecoder:
    """Decodes one file's bytes to float32 samples: ``(samples,)`` mono, else
    ``(samples, channels)``."""

    sample_rate: int | None = None
    mono: bool = True

    #: What a file that fails is said not to be, in messages.
    what = "audio"

    @classmethod
    def from_options(cls, options: dict[str, Any]) -> AudioDecoder:
        return cls(options.get("audio_sample_rate"), bool(options.get("audio_mono", True)))

    def require(self) -> None:
        """Raise MissingExtraError now when soundfile is not installed."""
        _soundfile()

    @property
    def shape(self) -> tuple[int, ...]:
        """The arrays' shape; -1 for a dimension that varies from file to file."""
        return (-1,) if self.mono else (-1, -1)

    def _out_frames(self, frames: int, rate: int) -> int:
        if self.sample_rate is None or self.sample_rate == rate:
            return frames
        return -(-frames * self.sample_rate // rate)

    def estimate(self, f: Any) -> int:
        """The bytes held while the audio in open file ``f`` decodes (rewound after): every
        channel at the file's rate, plus the result; 0 when the header does not parse."""
        soundfile = _soundfile()
        try:
            info = soundfile.info(f)
            frames, rate, channels = int(info.frames), int(info.samplerate), int(info.channels)
        except Exception:
            return 0
        finally:
            f.seek(0)
        out = self._out_frames(frames, rate) * (1 if self.mono else channels)
        return (frames * channels + out) * _FLOAT32

    def decode(self, data: bytes) -> Any:
        import numpy as np

        soundfile = _soundfile()
        try:
            samples, rate = soundfile.read(io.BytesIO(data), dtype="float32", always_2d=True)
        except soundfile.LibsndfileError as exc:
            # its own message names the in-memory file object, not the file
            raise ValueError(exc.error_string) from exc
        if self.mono:
            samples = samples[:, 0] if samples.shape[1] == 1 else samples.mean(axis=1)
        if self.sample_rate is not None:
            return resample(samples, int(rate), self.sample_rate)
        return np.ascontiguousarray(samples, dtype=np.float32)
