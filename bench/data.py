"""Generate the benchmark data (seeded, reproducible) and the squall workspace that serves it.

Layout under DATA (default ``bench/data``):

  model.joblib               LogisticRegression fitted on 10k rows from a fixed seed
  tabular_<ROWS>/part-*.parquet   int64 ``id`` + 16 float32 features, 128Ki-row row groups,
                                  no dictionary encoding
  images/img_*.png, images_manifest.parquet   64x64 RGB PNGs (id, absolute path)
  ws/                        the squall workspace: stage @bench holding copies of the tabular
                             folders and the images, a view per tabular size, both models
  meta.json                  what was generated; a part whose parameters match is kept

The model's seed does not depend on the row count, so every dataset shares one model.
Uploading to the stage and registering models happens here, never in a timed run.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from typing import Any

import numpy as np
from common import (
    FEATURES,
    FILE_COLUMN,
    IMG_MODEL,
    IMG_MODEL_DECODED,
    IMG_OUTPUTS,
    N_FEATURES,
    STAGE,
    TAB_MODEL,
    TAB_VIEW,
    VERSION,
    array_outputs,
    image_outputs,
    tabular_dir,
    tabular_stage_path,
)

TRUE_W_SEED = 1234
FIT_SEED = 99
TAB_SEED = 7
IMG_SEED = 1007
ROW_GROUP = 128 * 1024


def _fit_model() -> Any:
    from sklearn.linear_model import LogisticRegression

    w = np.random.default_rng(TRUE_W_SEED).standard_normal(N_FEATURES)
    rng = np.random.default_rng(FIT_SEED)
    X = rng.standard_normal((10_000, N_FEATURES), dtype=np.float32)
    y = ((X.astype(np.float64) @ w + 0.25 + rng.standard_normal(10_000)) > 0).astype(np.int64)
    return LogisticRegression(max_iter=1000).fit(X, y)


def make_model(data: str) -> str:
    import joblib

    path = os.path.join(data, "model.joblib")
    joblib.dump(_fit_model(), path)
    return path


def make_tabular(data: str, rows: int, files: int) -> str:
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder = tabular_dir(data, rows)
    shutil.rmtree(folder, ignore_errors=True)
    os.makedirs(folder)
    rng = np.random.default_rng(TAB_SEED)
    per = [rows // files + (1 if i < rows % files else 0) for i in range(files)]
    start = 0
    for i, n in enumerate(per):
        cols = {"id": pa.array(np.arange(start, start + n, dtype=np.int64))}
        X = rng.standard_normal((n, N_FEATURES), dtype=np.float32)
        for j, name in enumerate(FEATURES):
            cols[name] = pa.array(np.ascontiguousarray(X[:, j]))
        # Dictionary encoding off: unique random floats gain nothing from it.
        pq.write_table(
            pa.table(cols),
            os.path.join(folder, f"part-{i:05d}.parquet"),
            row_group_size=ROW_GROUP,
            use_dictionary=False,
        )
        start += n
    return folder


def _img_worker(job: tuple[str, list[int], int, int]) -> list[str]:
    from PIL import Image

    out_dir, ids, size, seed = job
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size]
    paths = []
    for i in ids:
        # A random smooth gradient plus noise: compresses somewhat, like real images.
        base = rng.uniform(0, 255, 3)
        gx, gy = rng.uniform(-2, 2, 3), rng.uniform(-2, 2, 3)
        img = base[None, None, :] + xx[..., None] * gx + yy[..., None] * gy
        img = img + rng.normal(0, 12, (size, size, 3))
        p = os.path.join(out_dir, f"img_{i:08d}.png")
        Image.fromarray(np.clip(img, 0, 255).astype(np.uint8), "RGB").save(p, format="PNG")
        paths.append(p)
    return paths


def make_images(data: str, count: int, size: int = 64) -> str:
    import multiprocessing as mp

    import pyarrow as pa
    import pyarrow.parquet as pq

    folder = os.path.abspath(os.path.join(data, "images"))
    shutil.rmtree(folder, ignore_errors=True)
    os.makedirs(folder)
    procs = os.cpu_count() or 1
    chunks = np.array_split(np.arange(count), procs * 4)
    jobs = [(folder, c.tolist(), size, IMG_SEED + k) for k, c in enumerate(chunks) if len(c)]
    with mp.get_context("fork").Pool(procs) as pool:
        paths = [p for part in pool.map(_img_worker, jobs) for p in part]
    manifest = pa.table(
        {"id": pa.array(np.arange(count, dtype=np.int64)), "path": pa.array(paths, pa.string())}
    )
    pq.write_table(manifest, os.path.join(data, "images_manifest.parquet"))
    return folder


# --- the squall workspace -------------------------------------------------------------------
def _image_model_class() -> type:
    import pandas as pd

    from squall.model import custom_model

    class ImageModel(custom_model.CustomModel):
        """PNG bytes -> a colour map of the image's per-channel mean."""

        @custom_model.inference_api
        def predict(self, X: pd.DataFrame) -> pd.DataFrame:
            y = image_outputs(X[FILE_COLUMN])
            return pd.DataFrame({"y0": y[:, 0], "y1": y[:, 1], "y2": y[:, 2]})

    return ImageModel


def _decoded_image_model_class() -> type:
    import pandas as pd

    from squall.model import custom_model

    class DecodedImageModel(custom_model.CustomModel):
        """Decoded (h, w, 3) uint8 arrays -> a colour map of the image's per-channel mean."""

        @custom_model.inference_api
        def predict(self, X: pd.DataFrame) -> pd.DataFrame:
            y = array_outputs(X[FILE_COLUMN])
            return pd.DataFrame({"y0": y[:, 0], "y1": y[:, 1], "y2": y[:, 2]})

    return DecodedImageModel


def setup_workspace(data: str, meta: dict[str, Any]) -> None:
    """Stage the data and register the models, once; what is there already is kept."""
    import joblib
    import pandas as pd

    import squall
    from squall.registry import Registry

    ws = os.path.join(data, "ws")
    os.makedirs(ws, exist_ok=True)
    os.chmod(ws, 0o700)  # a workspace is owner-only (squall warns otherwise)
    session = squall.connect(ws)
    done = meta.setdefault("workspace", {})
    if STAGE not in [s.lower() for s in _stage_names(session)]:
        session.create_stage(STAGE)
    reg = Registry(session)
    models = set(reg.show_models()["name"].str.lower()) if len(reg.show_models()) else set()
    if TAB_MODEL not in models:
        clf = joblib.load(os.path.join(data, "model.joblib"))
        sample = pd.DataFrame(
            np.random.default_rng(0).standard_normal((16, N_FEATURES), dtype=np.float32),
            columns=FEATURES,
        )
        reg.log_model(clf, model_name=TAB_MODEL, version_name=VERSION, sample_input_data=sample)
    if IMG_MODEL not in models:
        first = sorted(os.listdir(os.path.join(data, "images")))[0]
        with open(os.path.join(data, "images", first), "rb") as f:
            sample = pd.DataFrame({FILE_COLUMN: [f.read()]})
        reg.log_model(
            _image_model_class()(),
            model_name=IMG_MODEL,
            version_name=VERSION,
            sample_input_data=sample,
        )
    if IMG_MODEL_DECODED not in models:
        from squall.model.signature import DataType, FeatureSpec, ModelSignature

        signature = ModelSignature(
            inputs=[FeatureSpec(FILE_COLUMN, DataType.UINT8, shape=(-1, -1, 3))],
            outputs=[FeatureSpec(name, DataType.DOUBLE) for name in IMG_OUTPUTS],
        )
        reg.log_model(
            _decoded_image_model_class()(),
            model_name=IMG_MODEL_DECODED,
            version_name=VERSION,
            signatures={"predict": signature},
        )
    for key, entry in meta.items():
        if not key.startswith("tabular_") or done.get(key) == entry:
            continue
        rows = entry["rows"]
        session.remove(tabular_stage_path(rows))
        session.put(tabular_dir(data, rows) + "/", tabular_stage_path(rows))
        folder = os.path.join(ws, "stages", STAGE, f"tabular_{rows}")
        session.sql(
            f"CREATE OR REPLACE VIEW {TAB_VIEW}_{rows} AS "
            f"SELECT * FROM read_parquet('{folder}/*.parquet')"
        )
        done[key] = entry
    if "images" in meta and done.get("images") != meta["images"]:
        session.remove(f"@{STAGE}/images/")
        session.put(os.path.join(data, "images") + "/", f"@{STAGE}/images/")
        done["images"] = meta["images"]


def _stage_names(session: Any) -> list[str]:
    return list(session.stages.names())


def ensure(data: str, rows: list[int], files: int, images: int) -> dict[str, Any]:
    """Generate whatever is missing or different; return the data's description."""
    os.makedirs(data, exist_ok=True)
    meta_path = os.path.join(data, "meta.json")
    meta: dict[str, Any] = {}
    if os.path.exists(meta_path):
        with open(meta_path) as f:
            meta = json.load(f)

    def save() -> None:
        with open(meta_path, "w") as f:
            json.dump(meta, f, indent=1)

    if meta.get("model") != {"fit_seed": FIT_SEED} or not os.path.exists(
        os.path.join(data, "model.joblib")
    ):
        make_model(data)
        meta["model"] = {"fit_seed": FIT_SEED}
        meta.pop("workspace", None)  # a new model invalidates the workspace
        shutil.rmtree(os.path.join(data, "ws"), ignore_errors=True)
        save()
    for n in rows:
        want = {"rows": n, "files": files, "row_group": ROW_GROUP, "seed": TAB_SEED}
        key = f"tabular_{n}"
        if meta.get(key) != want or not os.path.isdir(tabular_dir(data, n)):
            t = time.time()
            make_tabular(data, n, files)
            meta[key] = want
            save()
            print(f"data: {n:,} rows in {files} Parquet files ({time.time() - t:.1f}s)", flush=True)
    if images:
        want = {"count": images, "size": 64, "seed": IMG_SEED}
        if meta.get("images") != want:
            t = time.time()
            make_images(data, images)
            meta["images"] = want
            save()
            print(f"data: {images:,} PNGs ({time.time() - t:.1f}s)", flush=True)
    t = time.time()
    setup_workspace(data, meta)
    save()
    print(f"data: workspace ready ({time.time() - t:.1f}s)", flush=True)
    return meta
