"""Image decoders compared on the same files: Pillow (squall's), OpenCV ``imdecode``, simplejpeg.

    python bench/decoders.py [--count 500] [--data bench/data]

Decodes each file to an ``H x W x 3`` uint8 RGB array, one thread, and reports images/s per
decoder and format, and whether each decoder's pixels equal Pillow's. The files: the bench's
64x64 PNGs (``bench/data/images``, when there) and seeded 64x64 and 512x512 images, each as
PNG and as JPEG (quality 90). OpenCV and simplejpeg are measured when installed
(``pip install opencv-python-headless simplejpeg``); neither is a dependency of squall.
"""

from __future__ import annotations

import argparse
import io
import os
import time
from collections.abc import Callable
from typing import Any

import numpy as np


def _images(count: int, size: int, seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:size, 0:size]
    out = []
    for _ in range(count):
        a, b, c = rng.uniform(0.2, 3.0, 3)
        base = np.stack([x * a, y * b, (x + y) * c], axis=-1) % 256
        noise = rng.normal(0, 12, base.shape)
        out.append(np.clip(base + noise, 0, 255).astype(np.uint8))
    return out


def _encode(arrays: list[np.ndarray], fmt: str) -> list[bytes]:
    from PIL import Image

    out = []
    for a in arrays:
        buf = io.BytesIO()
        Image.fromarray(a).save(buf, format=fmt, **({"quality": 90} if fmt == "JPEG" else {}))
        out.append(buf.getvalue())
    return out


def _read(path: str) -> bytes:
    with open(path, "rb") as f:
        return f.read()


def _decoders() -> dict[str, Callable[[bytes], Any]]:
    from squall.media import ImageDecoder

    pillow = ImageDecoder("RGB")
    found: dict[str, Callable[[bytes], Any]] = {"pillow": pillow.decode}
    try:
        import cv2

        cv2.setNumThreads(1)

        def opencv(data: bytes) -> Any:
            bgr = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
            return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)

        found["opencv"] = opencv
    except ImportError:
        pass
    try:
        import simplejpeg

        found["simplejpeg"] = lambda data: simplejpeg.decode_jpeg(data, colorspace="RGB")
    except ImportError:
        pass
    return found


def _rate(fn: Callable[[bytes], Any], files: list[bytes], repeat: int = 3) -> float:
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        for data in files:
            fn(data)
        best = min(best, time.perf_counter() - t)
    return len(files) / best


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--count", type=int, default=500)
    ap.add_argument("--data", default=os.path.join(os.path.dirname(__file__), "data"))
    a = ap.parse_args()
    sets: dict[str, list[bytes]] = {}
    folder = os.path.join(a.data, "images")
    if os.path.isdir(folder):
        names = sorted(os.listdir(folder))[: a.count]
        sets["bench PNG 64x64"] = [_read(os.path.join(folder, n)) for n in names]
    for size, count in [(64, a.count), (512, max(1, a.count // 20))]:
        arrays = _images(count, size, seed=size)
        sets[f"PNG {size}x{size}"] = _encode(arrays, "PNG")
        sets[f"JPEG {size}x{size}"] = _encode(arrays, "JPEG")
    decoders = _decoders()
    print("| files | " + " | ".join(f"{n} img/s" for n in decoders) + " | same pixels as Pillow |")
    print("|---|" + "---|" * (len(decoders) + 1))
    for label, files in sets.items():
        rates, same = [], []
        reference = [decoders["pillow"](f) for f in files]
        for name, fn in decoders.items():
            if name == "simplejpeg" and not label.split()[-2].endswith("JPEG"):
                rates.append("-")
                continue
            rates.append(f"{_rate(fn, files):,.0f}")
            if name != "pillow":
                diff = max(
                    int(np.abs(fn(f).astype(np.int16) - r).max()) for f, r in zip(files, reference)
                )
                same.append(f"{name}: {'equal' if diff == 0 else f'differ by up to {diff}'}")
        print(f"| {label} ({len(files)}) | " + " | ".join(rates) + f" | {', '.join(same)} |")


if __name__ == "__main__":
    main()
