"""Rows per second of a batch job over PNG files on an internal stage.

    python bench/files_bench.py --images DIR [--workers 2] [--home DIR] [--check OUT.parquet]

Uploads every ``*.png`` of DIR with ``session.put``, lists them with ``list_stage_files``,
and runs a custom model over them with ``column_handling`` RAW_BYTES: it decodes each image
with Pillow and maps its per-channel mean through a fixed 3x3 colour transform. Prints the
upload time and the job's rows/s (from the ``run_batch`` call until the job is DONE).
``--check`` compares the outputs with a Parquet file of ``id, y0, y1, y2`` (``id`` taken from
``img_<id>.png``).
"""

from __future__ import annotations

import argparse
import io
import json
import tempfile
import time

import numpy as np
import pandas as pd

import squall
from squall.batch import FileEncoding, InputFormat, InputSpec, JobSpec, OutputSpec, SaveMode
from squall.model import custom_model
from squall.registry import Registry

COLOR_MAP = np.array(
    [[0.299, 0.587, 0.114], [-0.168736, -0.331264, 0.5], [0.5, -0.418688, -0.081312]]
)
COLOR_BIAS = np.array([0.0, 128.0, 128.0])


class ColourModel(custom_model.CustomModel):
    @custom_model.inference_api
    def predict(self, X: pd.DataFrame) -> pd.DataFrame:
        from PIL import Image

        means = np.empty((len(X), 3))
        for i, data in enumerate(X["image"]):
            with Image.open(io.BytesIO(data)) as im:
                arr = np.asarray(im if im.mode == "RGB" else im.convert("RGB"))
            means[i] = np.einsum("ijk->k", arr, dtype=np.int64) / (arr.shape[0] * arr.shape[1])
        y = means @ COLOR_MAP.T + COLOR_BIAS
        return pd.DataFrame({"y0": y[:, 0], "y1": y[:, 1], "y2": y[:, 2]})


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", required=True, help="a folder of *.png files")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--batch-rows", type=int, default=None)
    ap.add_argument("--home", default=None, help="workspace (default: a temporary folder)")
    ap.add_argument("--check", default=None, help="Parquet of id, y0, y1, y2 to compare with")
    args = ap.parse_args()

    session = squall.connect(args.home or tempfile.mkdtemp(prefix="squall-bench-"))
    session.create_stage("images", exists_ok=True)
    session.create_stage("results", exists_ok=True)
    t = time.monotonic()
    uploaded = session.put(f"{args.images}/*.png", "@images/png/")
    put_s = time.monotonic() - t

    with open(f"{args.images}/{uploaded[0].name}", "rb") as f:
        sample = f.read()
    mv = Registry(session).log_model(
        ColourModel(custom_model.ModelContext()),
        model_name="colour",
        sample_input_data=pd.DataFrame({"image": [sample]}),
    )
    t = time.monotonic()
    files = squall.list_stage_files("@images/png", pattern=r".*\.png", column_name="IMAGE")
    job = mv.run_batch(
        files,
        input_spec=InputSpec(
            column_handling={
                "IMAGE": {
                    "input_format": InputFormat.FULL_STAGE_PATH,
                    "convert_to": FileEncoding.RAW_BYTES,
                }
            }
        ),
        output_spec=OutputSpec(stage_location="@results/colour/", mode=SaveMode.OVERWRITE),
        job_spec=JobSpec(num_workers=args.workers, max_batch_rows=args.batch_rows),
    )
    status = job.wait(timeout=3600)
    job_s = time.monotonic() - t
    rows = job.progress.rows_done
    result = {
        "status": status,
        "files": len(uploaded),
        "put_s": round(put_s, 3),
        "job_s": round(job_s, 3),
        "rows": rows,
        "rows_per_s": round(rows / job_s, 1),
        "workers": args.workers,
    }
    if args.check:
        out = session.read.parquet("@results/colour/").to_pandas()
        out["id"] = out["IMAGE"].str.extract(r"img_(\d+)\.png$")[0].astype("int64")
        ref = pd.read_parquet(args.check)
        merged = out.merge(ref, on="id", suffixes=("", "_ref"))
        diff = max(float((merged[c] - merged[c + "_ref"]).abs().max()) for c in ("y0", "y1", "y2"))
        result["checked_rows"] = len(merged)
        result["max_abs_diff"] = diff
    print(json.dumps(result))


if __name__ == "__main__":
    main()
