"""What every benchmark pipeline shares: the data layout, the model code, the output schema.

Every pipeline computes exactly the same thing, so outputs can be compared row by row:

- tabular: ``predict_proba`` of a scikit-learn LogisticRegression on 16 float32 features;
  the output holds every input column (``id``, ``f00``..``f15``) plus ``output_feature_0``
  and ``output_feature_1`` (the class probabilities), as ``run_batch`` writes it.
- files: decode a PNG with Pillow, take its per-channel mean, apply a fixed 3x3 colour map;
  the output is the file's id (from its name) or path, plus ``y0``, ``y1``, ``y2``. The
  ``-decoded`` / ``-native`` pipelines let the engine decode and hand the model arrays.
"""

from __future__ import annotations

import io
import os
from typing import Any

N_FEATURES = 16
FEATURES = [f"f{i:02d}" for i in range(N_FEATURES)]
TAB_OUTPUTS = ["output_feature_0", "output_feature_1"]
IMG_OUTPUTS = ["y0", "y1", "y2"]
FILE_COLUMN = "FILE_PATH"
STAGE = "bench"
TAB_MODEL = "bench_lr"
IMG_MODEL = "bench_img"
IMG_MODEL_DECODED = "bench_img_decoded"  # the same model, handed decoded arrays
VERSION = "v1"
TAB_VIEW = "bench_tabular"
BATCH_ROWS = 131_072

COLOR_MAP = [
    [0.299, 0.587, 0.114],
    [-0.168736, -0.331264, 0.5],
    [0.5, -0.418688, -0.081312],
]
COLOR_BIAS = [0.0, 128.0, 128.0]


def tabular_dir(data: str, rows: int) -> str:
    return os.path.join(data, f"tabular_{rows}")


def tabular_stage_path(rows: int) -> str:
    return f"@{STAGE}/tabular_{rows}/"


def tabular_files(folder: str) -> list[str]:
    return sorted(os.path.join(folder, f) for f in os.listdir(folder) if f.endswith(".parquet"))


def columns_to_matrix(cols: list[Any]) -> Any:
    """16 one-dimensional float32 arrays -> an (n, 16) float32 matrix (column-major fill)."""
    import numpy as np

    n = len(cols[0])
    X = np.empty((n, len(cols)), dtype=np.float32, order="F")
    for j, c in enumerate(cols):
        X[:, j] = c
    return X


def decode_png(buf: bytes) -> Any:
    """PNG bytes -> (h, w, 3) uint8."""
    import numpy as np
    from PIL import Image

    with Image.open(io.BytesIO(buf)) as im:
        if im.mode != "RGB":
            im = im.convert("RGB")
        return np.asarray(im)


def channel_mean(arr: Any) -> Any:
    """Exact integer sums, then one division: bit-identical however rows are batched."""
    import numpy as np

    return np.einsum("ijk->k", arr, dtype=np.int64) / (arr.shape[0] * arr.shape[1])


def image_outputs(buffers: Any) -> Any:
    """An iterable of PNG byte strings -> (n, 3) float64 model outputs."""
    return array_outputs(decode_png(buf) for buf in buffers)


def array_outputs(arrays: Any) -> Any:
    """An iterable of decoded (h, w, 3) uint8 images -> (n, 3) float64 model outputs."""
    import numpy as np

    means = np.asarray([channel_mean(a) for a in arrays], dtype=np.float64).reshape(-1, 3)
    return means @ np.asarray(COLOR_MAP).T + np.asarray(COLOR_BIAS)


def id_from_path(path: str) -> int:
    return int(os.path.basename(path)[4:12])  # img_00001234.png


def load_model(data: str) -> Any:
    import joblib

    return joblib.load(os.path.join(data, "model.joblib"))
