"""``squall demo``: a real batch job on the embedded default, from an empty folder."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["run_demo"]

ROWS = 200_000


def run_demo(home: str | Path = ".squall-demo", rows: int = ROWS) -> int:
    from sklearn.linear_model import LogisticRegression

    import squall
    from squall.batch import JobSpec, OutputSpec, SaveMode
    from squall.model import custom_model
    from squall.registry import Registry

    print(f"workspace: {Path(home).resolve()}")
    session = squall.connect(home)

    # A table of customers, made by DuckDB itself, of `rows` rows.
    session.create_table(
        "customers",
        session.sql(
            f"""SELECT i AS id,
               (hash(i) % 1000) / 10.0 AS tenure,
               (hash(i * 7) % 2000) / 10.0 AS spend,
               (hash(i * 13) % 50)::INTEGER AS visits,
               CASE WHEN i % 3 = 0 THEN 'eu' ELSE 'us' END AS region
        FROM range({rows}) t(i)"""
        ),
    )
    print(f"table customers: {session.table('customers').count():,} rows")

    rng = np.random.default_rng(0)
    train = pd.DataFrame(
        {
            "tenure": rng.uniform(0, 100, 2000),
            "spend": rng.uniform(0, 200, 2000),
            "visits": rng.integers(0, 50, 2000).astype("int32"),
        }
    )
    y = (train.spend / 200 - train.tenure / 100 + rng.normal(0, 0.2, 2000) > 0).astype(int)
    clf = LogisticRegression(max_iter=500).fit(train, y)

    class Churn(custom_model.CustomModel):
        @custom_model.inference_api
        def predict(self, X: pd.DataFrame, *, threshold: float = 0.5) -> pd.DataFrame:
            p = self.context.model_ref("clf").predict_proba(X[["tenure", "spend", "visits"]])[:, 1]
            return pd.DataFrame({"churn_probability": p, "will_churn": p > threshold})

    reg = Registry(session)
    for name in ("churn_sklearn", "churn_custom"):
        if name.upper() in set(reg.show_models()["name"].str.upper()):
            reg.delete_model(name)
    mv_sk = reg.log_model(
        clf, model_name="churn_sklearn", version_name="v1", sample_input_data=train
    )
    mv = reg.log_model(
        Churn(custom_model.ModelContext(models={"clf": clf})),
        model_name="churn_custom",
        version_name="v1",
        sample_input_data=train,
    )
    print("registered:", mv_sk, mv)

    X = session.sql("SELECT id, region, tenure, spend, visits FROM customers WHERE visits >= 0")
    session.create_stage("results", exists_ok=True)
    started = time.monotonic()
    job = mv.run_batch(
        X,
        output_spec=OutputSpec(stage_location="@results/churn/", mode=SaveMode.OVERWRITE),
        job_spec=JobSpec(job_name_prefix="DEMO"),
    )
    print(f"job {job.name} submitted ({time.monotonic() - started:.2f}s), waiting...")
    from squall.cli.output import progress_bar

    status = progress_bar(job)
    elapsed = time.monotonic() - started
    print(f"status: {status}  {job.message or ''}")
    if status != "DONE":
        print(job.get_logs(limit=40))
        return 1
    out = session.read.parquet("@results/churn/")
    print(
        f"{out.count():,} output rows in {elapsed:.2f}s ({rows / elapsed:,.0f} rows/s end to end)"
    )
    print(out.limit(5).to_pandas().to_string(index=False))
    print("output files:")
    for f in session.list_stage("@results/churn/"):
        print(f"  {f.path}  {f.size:,} bytes")
    print("job progress:", job.progress)
    sk_job = mv_sk.run_batch(
        session.sql("SELECT tenure, spend, visits FROM customers LIMIT 1000"),
        output_spec=OutputSpec(stage_location="@results/churn_sklearn/", mode=SaveMode.OVERWRITE),
        job_spec=JobSpec(function_name="predict_proba", block=True),
    )
    print(f"scikit-learn model job {sk_job.name}: {sk_job.status}")
    print(
        session.read.parquet("@results/churn_sklearn/").limit(3).to_pandas().to_string(index=False)
    )
    if sk_job.status != "DONE":
        return 1
    code = _image_demo(session, reg)
    _warm_pool_note()
    return code


def _warm_pool_note() -> None:
    from squall.compute import warm

    info = warm.status()
    if info is not None:
        print(
            f"warm pool (pid {info['pid']}): keeps the workers' libraries loaded so the next "
            f"jobs start sooner; it exits after {info['idle_timeout_s']:g} s idle, or now with "
            "`squall warm-pool stop`"
        )


def _image_demo(session: Any, reg: Any) -> int:
    """An image model over PNGs uploaded to a stage, each file read as raw bytes."""
    try:
        from PIL import Image
    except ImportError:
        print("image example skipped: it needs Pillow (pip install 'squall[images]')")
        return 0
    import io
    import tempfile

    import squall
    from squall.batch import FileEncoding, InputFormat, InputSpec, JobSpec, OutputSpec, SaveMode
    from squall.model import custom_model

    class Redness(custom_model.CustomModel):
        @custom_model.inference_api
        def predict(self, X: pd.DataFrame) -> pd.DataFrame:
            reds = [
                np.asarray(Image.open(io.BytesIO(b)).convert("RGB"))[..., 0].mean()
                for b in X["images"]
            ]
            return pd.DataFrame({"red": reds})

    folder = tempfile.mkdtemp(prefix="squall-demo-png-")
    for i in range(200):
        Image.new("RGB", (32, 32), (i, 64, 128)).save(f"{folder}/img_{i:03d}.png")
    session.create_stage("images", exists_ok=True)
    session.put(f"{folder}/*.png", "@images/demo/")
    with open(f"{folder}/img_000.png", "rb") as f:
        sample = pd.DataFrame({"images": [f.read()]})  # a BYTES input, inferred
    if "REDNESS" in set(reg.show_models()["name"].str.upper()):
        reg.delete_model("redness")
    mv = reg.log_model(
        Redness(custom_model.ModelContext()), model_name="redness", sample_input_data=sample
    )
    job = mv.run_batch(
        squall.list_stage_files("@images/demo", pattern=r".*\.png", column_name="IMAGES"),
        input_spec=InputSpec(
            column_handling={
                "IMAGES": {
                    "input_format": InputFormat.FULL_STAGE_PATH,
                    "convert_to": FileEncoding.RAW_BYTES,
                }
            }
        ),
        output_spec=OutputSpec(stage_location="@results/redness/", mode=SaveMode.OVERWRITE),
        job_spec=JobSpec(job_name_prefix="DEMO_IMAGES", block=True),
    )
    out = session.read.parquet("@results/redness/").to_pandas().sort_values("IMAGES")
    print(f"image model job {job.name}: {job.status}, {len(out)} images")
    print(out.head(3).to_string(index=False))
    return 0 if job.status == "DONE" and len(out) == 200 else 1
