"""The Daft pipelines, written the way Daft's documentation recommends for batch inference.

A class UDF (``@daft.cls``) loads the model once per instance; a batch method
(``@daft.method.batch``) gets whole columns as ``daft.Series`` and returns one struct
column, unnested into the output columns (``unnest=True``). ``max_concurrency`` is the
number of cores: one UDF instance per core; ``use_process`` is left unset, so Daft picks threads or processes from
what it measures. The native runner reads and writes Parquet in Rust threads.

  T-daft  read_parquet -> predict_proba -> write_parquet (every input column + 2 outputs)
  F-daft  from_glob_path(images/*.png) -> download() -> decode + colour model -> write_parquet
  F-daft-native  the same, but Daft decodes (``decode_image``, native, off the GIL) and the
                 batch method gets arrays
"""

from __future__ import annotations

import argparse
import os
from typing import Any

from common import (
    BATCH_ROWS,
    FEATURES,
    IMG_OUTPUTS,
    TAB_OUTPUTS,
    array_outputs,
    columns_to_matrix,
    id_from_path,
    image_outputs,
    load_model,
    tabular_dir,
)

# Images per UDF call: enough to amortise the call, small enough to keep both cores busy.
IMG_BATCH = 256


def _cores() -> int:
    return os.cpu_count() or 1


def _rows_written(df: Any) -> int:
    """``write_parquet`` returns a frame of the files written and their row counts."""
    out = df.to_pydict()
    for key in ("num_rows", "rows"):
        if key in out:
            return int(sum(out[key]))
    return -1


def run_t_daft(a: argparse.Namespace, timings: dict[str, Any]) -> int:
    import daft
    from daft import DataType as DT

    out_type = DT.struct({name: DT.float32() for name in TAB_OUTPUTS})

    @daft.cls(max_concurrency=_cores())
    class Classifier:
        def __init__(self, data: str) -> None:
            from threadpoolctl import threadpool_limits

            threadpool_limits(1)
            self.model = load_model(data)

        @daft.method.batch(return_dtype=out_type, unnest=True, batch_size=BATCH_ROWS)
        def predict(self, *cols: Any) -> Any:
            import pyarrow as pa

            X = columns_to_matrix([c.to_arrow().to_numpy() for c in cols])
            p = self.model.predict_proba(X)
            arr = pa.StructArray.from_arrays(
                [pa.array(p[:, 0], pa.float32()), pa.array(p[:, 1], pa.float32())],
                names=TAB_OUTPUTS,
            )
            return daft.Series.from_arrow(arr)

    clf = Classifier(a.data)
    df = daft.read_parquet(os.path.join(tabular_dir(a.data, a.rows), "*.parquet"))
    df = df.select("id", *FEATURES)
    df = df.select("id", *FEATURES, clf.predict(*[df[c] for c in FEATURES]))
    return _rows_written(df.write_parquet(a.out))


def run_f_daft(a: argparse.Namespace, timings: dict[str, Any], native: bool = False) -> int:
    import daft
    from daft import DataType as DT
    from daft.functions import decode_image, download

    out_type = DT.struct({name: DT.float64() for name in IMG_OUTPUTS})

    @daft.cls(max_concurrency=_cores())
    class ColourModel:
        def __init__(self) -> None:
            pass

        @daft.method.batch(return_dtype=out_type, unnest=True, batch_size=IMG_BATCH)
        def predict(self, images: Any) -> Any:
            import pyarrow as pa

            values = images.to_pylist()
            y = array_outputs(values) if native else image_outputs(values)
            arr = pa.StructArray.from_arrays([pa.array(y[:, i]) for i in range(3)], IMG_OUTPUTS)
            return daft.Series.from_arrow(arr)

    @daft.func(return_dtype=DT.int64())
    def image_id(path: str) -> int:
        return id_from_path(path)

    model = ColourModel()
    df = daft.from_glob_path(os.path.join(a.data, "images", "*.png"))
    df = df.with_column("image", download(df["path"]))
    if native:
        df = df.with_column("image", decode_image(df["image"], mode=daft.ImageMode.RGB))
    df = df.select(image_id(df["path"]).alias("id"), model.predict(df["image"]))
    return _rows_written(df.write_parquet(a.out))
