"""One benchmark pipeline, run as its own process: ``python bench/pipelines.py NAME ...``.

Prints one line ``RESULT {json}`` with the times measured inside the process. Pipelines:

  T-limit         pyarrow scanner -> predict_proba -> ParquetWriter, one forked process per core
  T-limit-stream  ParquetFile.iter_batches per file -> predict_proba -> ParquetWriter, forked
  T-copy          T-limit-stream without the model: read and write the input columns
  T-daft          Daft read_parquet -> @daft.cls batch method (predict_proba) -> write_parquet
  T-squall-stage  run_batch over session.read.parquet("@bench/tabular_N/")
  T-squall-sql    run_batch over session.sql("SELECT * FROM bench_tabular_N") (a view on the files)
  T-squall-ray    T-squall-stage on a Ray compute pool: a local head (127.0.0.1, one CPU per core)
                  started by the pipeline before the timed call; workers see the workspace
  T-squall-ray-ship  the same without a shared file system: shards, model and parts through
                  Ray's object store
  T-squall-ray-warm  T-squall-ray on a pool with warm workers (keep_warm_s): a job of one
                  row per worker on the same pool (not timed) leaves them warm before the timed call
  T-ray           ray.data read_parquet -> map_batches (task pool, one task per core) -> write_parquet
  F-limit         read, Pillow decode, colour model, one forked process per core
  F-squall        run_batch over list_stage_files("@bench/images/"), RAW_BYTES file column
  F-squall-decoded  the same, convert_to=IMAGE: squall's fetch threads decode, the model gets arrays
  F-ray           ray.data read_binary_files -> map_batches -> write_parquet
  F-ray-manifest  ray.data read_parquet(manifest) -> map_batches (opens each path) -> write_parquet
  F-daft          Daft from_glob_path -> url.download() -> @daft.cls batch method -> write_parquet
  F-daft-native   the same, with Daft's own decode (decode_image) before the batch method
  S-1row          run_batch over a 1-row pandas DataFrame, end to end
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import Any

T0 = time.time()

import daft_pipelines  # noqa: E402
from common import (  # noqa: E402
    BATCH_ROWS,
    FEATURES,
    FILE_COLUMN,
    IMG_MODEL,
    IMG_MODEL_DECODED,
    IMG_OUTPUTS,
    STAGE,
    TAB_MODEL,
    TAB_OUTPUTS,
    TAB_VIEW,
    VERSION,
    columns_to_matrix,
    id_from_path,
    image_outputs,
    load_model,
    tabular_dir,
    tabular_files,
    tabular_stage_path,
)


def _cores() -> int:
    return os.cpu_count() or 1


def _fork_pool(fn: Any, jobs: list[tuple[Any, ...]]) -> int:
    import multiprocessing as mp

    with mp.get_context("fork").Pool(len(jobs)) as pool:
        return sum(pool.starmap(fn, jobs))


# --- tabular ----------------------------------------------------------------------------------
def _tab_worker(files: list[str], out_path: str, data: str) -> int:
    import pyarrow as pa
    import pyarrow.dataset as pads
    import pyarrow.parquet as pq
    from threadpoolctl import threadpool_limits

    threadpool_limits(1)
    model = load_model(data)
    scanner = pads.dataset(files, format="parquet").scanner(
        columns=["id", *FEATURES], batch_size=BATCH_ROWS
    )
    schema = scanner.projected_schema
    for name in TAB_OUTPUTS:
        schema = schema.append(pa.field(name, pa.float32()))
    rows = 0
    with pq.ParquetWriter(out_path, schema, use_dictionary=False) as writer:
        for rb in scanner.to_batches():
            if rb.num_rows == 0:
                continue
            X = columns_to_matrix([rb.column(i).to_numpy() for i in range(1, 17)])
            p = model.predict_proba(X)
            cols = [*rb.columns, pa.array(p[:, 0]), pa.array(p[:, 1])]
            writer.write_batch(pa.record_batch(cols, schema=schema))
            rows += rb.num_rows
    return rows


def run_t_limit(a: argparse.Namespace, timings: dict[str, Any]) -> int:
    files = tabular_files(tabular_dir(a.data, a.rows))
    n = min(_cores(), len(files))
    jobs = [(files[k::n], os.path.join(a.out, f"part-{k:05d}.parquet"), a.data) for k in range(n)]
    return _fork_pool(_tab_worker, jobs)


def _stream_worker(files: list[str], out_path: str, data: str | None) -> int:
    """Each file's row groups, one at a time, straight to one writer: no scanner, no readahead.

    With ``data`` None no model runs: the input columns are copied (the I/O floor).
    """
    import pyarrow as pa
    import pyarrow.parquet as pq
    from threadpoolctl import threadpool_limits

    threadpool_limits(1)
    model = load_model(data) if data else None
    rows = 0
    writer = None
    try:
        for path in files:
            pf = pq.ParquetFile(path, memory_map=True)
            schema = pf.schema_arrow
            if model is not None:
                for name in TAB_OUTPUTS:
                    schema = schema.append(pa.field(name, pa.float32()))
            if writer is None:
                writer = pq.ParquetWriter(out_path, schema, use_dictionary=False)
            for rb in pf.iter_batches(batch_size=BATCH_ROWS, use_threads=False):
                cols = list(rb.columns)
                if model is not None:
                    X = columns_to_matrix([c.to_numpy() for c in cols[1:17]])
                    p = model.predict_proba(X)
                    cols += [pa.array(p[:, 0]), pa.array(p[:, 1])]
                writer.write_batch(pa.record_batch(cols, schema=schema))
                rows += rb.num_rows
    finally:
        if writer is not None:
            writer.close()
    return rows


def run_t_limit_stream(a: argparse.Namespace, timings: dict[str, Any], model: bool) -> int:
    files = tabular_files(tabular_dir(a.data, a.rows))
    n = min(_cores(), len(files))
    data = a.data if model else None
    jobs = [(files[k::n], os.path.join(a.out, f"part-{k:05d}.parquet"), data) for k in range(n)]
    return _fork_pool(_stream_worker, jobs)


def _ray_init(a: argparse.Namespace) -> Any:
    import ray

    ray.init(
        num_cpus=_cores(),
        include_dashboard=False,
        _temp_dir=a.ray_tmp,
        log_to_driver=False,
        configure_logging=True,
        logging_level="warning",
    )
    import ray.data

    ctx = ray.data.DataContext.get_current()
    ctx.enable_progress_bars = False
    # Ray's 128 MiB default makes a 1M-row file one block: one task would do all the work.
    ctx.target_max_block_size = 32 * 2**20
    return ray


_MODEL: dict[str, Any] = {}


def _ray_tab_fn(batch: dict[str, Any], data: str) -> dict[str, Any]:
    model = _MODEL.get(data)
    if model is None:  # once per Ray worker process (workers are reused across tasks)
        model = _MODEL[data] = load_model(data)
    p = model.predict_proba(columns_to_matrix([batch[c] for c in FEATURES]))
    out = dict(batch)
    out[TAB_OUTPUTS[0]] = p[:, 0]
    out[TAB_OUTPUTS[1]] = p[:, 1]
    return out


def _ray_finish(ray: Any, ds: Any, timings: dict[str, Any], t: float) -> None:
    timings["work_s"] = time.time() - t
    t = time.time()
    ray.shutdown()
    timings["ray_shutdown_s"] = time.time() - t


def run_t_ray(a: argparse.Namespace, timings: dict[str, Any]) -> None:
    t = time.time()
    ray = _ray_init(a)
    timings["ray_init_s"] = time.time() - t
    t = time.time()
    ds = ray.data.read_parquet(tabular_dir(a.data, a.rows)).select_columns(["id", *FEATURES])
    ds = ds.map_batches(
        _ray_tab_fn,
        fn_args=(a.data,),
        batch_format="numpy",
        batch_size=BATCH_ROWS,
        compute=ray.data.TaskPoolStrategy(size=_cores()),
        udf_modifying_row_count=False,
    )
    ds.write_parquet(a.out, use_dictionary=False)
    _ray_finish(ray, ds, timings, t)


# --- files ------------------------------------------------------------------------------------
def _files_worker(ids: list[int], paths: list[str], out_path: str) -> int:
    import pyarrow as pa
    import pyarrow.parquet as pq

    bufs = []
    for p in paths:
        with open(p, "rb") as f:
            bufs.append(f.read())
    y = image_outputs(bufs)
    cols = {"id": pa.array(ids, pa.int64())}
    cols.update({name: y[:, i] for i, name in enumerate(IMG_OUTPUTS)})
    pq.write_table(pa.table(cols), out_path)
    return len(paths)


def _manifest(data: str) -> tuple[list[int], list[str]]:
    import pyarrow.parquet as pq

    t = pq.read_table(os.path.join(data, "images_manifest.parquet"))
    return t.column("id").to_pylist(), t.column("path").to_pylist()


def run_f_limit(a: argparse.Namespace, timings: dict[str, Any]) -> int:
    ids, paths = _manifest(a.data)
    n = _cores()
    jobs = [
        (ids[k::n], paths[k::n], os.path.join(a.out, f"part-{k:05d}.parquet")) for k in range(n)
    ]
    return _fork_pool(_files_worker, jobs)


def _ray_img_fn(batch: dict[str, Any]) -> dict[str, Any]:
    import numpy as np

    y = image_outputs(batch["bytes"])
    ids = np.fromiter((id_from_path(p) for p in batch["path"]), dtype=np.int64)
    return {"id": ids, **{name: y[:, i] for i, name in enumerate(IMG_OUTPUTS)}}


def _ray_img_manifest_fn(batch: dict[str, Any]) -> dict[str, Any]:
    import numpy as np

    bufs = []
    for p in batch["path"]:
        with open(p, "rb") as f:
            bufs.append(f.read())
    y = image_outputs(bufs)
    ids = np.asarray(batch["id"], dtype=np.int64)
    return {"id": ids, **{name: y[:, i] for i, name in enumerate(IMG_OUTPUTS)}}


def run_f_ray(a: argparse.Namespace, timings: dict[str, Any], manifest: bool = False) -> None:
    t = time.time()
    ray = _ray_init(a)
    timings["ray_init_s"] = time.time() - t
    t = time.time()
    if manifest:
        ds = ray.data.read_parquet(os.path.join(a.data, "images_manifest.parquet"))
        ds, fn = ds.repartition(8), _ray_img_manifest_fn
    else:
        ds = ray.data.read_binary_files(
            os.path.join(a.data, "images"), include_paths=True, override_num_blocks=8
        )
        fn = _ray_img_fn
    ds = ds.map_batches(
        fn,
        batch_format="numpy",
        batch_size=None,
        compute=ray.data.TaskPoolStrategy(size=_cores()),
        udf_modifying_row_count=False,
    )
    ds.write_parquet(a.out)
    _ray_finish(ray, ds, timings, t)


# --- squall -----------------------------------------------------------------------------------
def _squall_job(
    a: argparse.Namespace, timings: dict[str, Any], model: str, X: Any, **kw: Any
) -> int:
    """Run one job and wait for it; record its timeline relative to the run_batch call."""
    from squall.batch import JobSpec, OutputSpec, SaveMode

    session = a.session
    mv = a.registry.get_model(model).version(VERSION)
    t_call = time.time()
    job = mv.run_batch(
        X,
        output_spec=OutputSpec(stage_location=f"@{STAGE}/out/{a.label}/", mode=SaveMode.OVERWRITE),
        job_spec=JobSpec(num_workers=_cores(), **kw.pop("job", {})),
        **kw,
    )
    t_staged = time.time()
    status = job.wait()
    t_done = time.time()
    if status != "DONE":
        raise RuntimeError(f"job {job.name} ended {status}: {job.get_logs()[-3000:]}")
    row = session.catalog.query_one("SELECT * FROM jobs WHERE id = ?", (job.id,))
    timings["job"] = job.name
    timings["staged_s"] = t_staged - t_call
    timings["e2e_s"] = t_done - t_call
    if row["started_time"]:
        timings["supervisor_running_s"] = row["started_time"] - t_call
    if row["first_output_time"]:
        timings["first_part_s"] = row["first_output_time"] - t_call
    first = _first_batch_times(job.get_logs())
    if first:
        timings["first_batch_s"] = min(first) - t_call
    _shard_figures(job, os.path.join(a.data, "ws", "stages", STAGE, "out", a.label), timings)
    return int(row["rows_done"])


def _shard_figures(job: Any, out: str, timings: dict[str, Any]) -> None:
    """Per shard: the count, its rows, the seconds of its attempt and the size of its part."""
    import statistics

    done = [a for a in job.shard_attempts() if a["status"] == "DONE" and a["ended"]]
    timings["shards"] = len(job.shards())
    if done:
        timings["shard_rows"] = statistics.median(a["rows"] or 0 for a in done)
        timings["shard_s"] = statistics.median(a["ended"] - a["started"] for a in done)
    parts = [e.stat().st_size for e in os.scandir(out) if e.name.startswith("part-")]
    if parts:
        timings["part_mb"] = statistics.median(parts) / 2**20


def _first_batch_times(logs: str) -> list[float]:
    """The times of worker log lines ``[w0] <timestamp> worker w0 first batch inferred``."""
    from squall.logtime import line_time

    found = []
    for line in logs.splitlines():
        if "first batch inferred" in line:
            when = line_time(line.partition("] ")[2])
            if when is not None:
                found.append(when)
    return found


def _squall_session(a: argparse.Namespace) -> None:
    import squall
    from squall.registry import Registry

    a.session = squall.connect(os.path.join(a.data, "ws"))
    a.registry = Registry(a.session)


def run_t_squall(a: argparse.Namespace, timings: dict[str, Any], sql: bool) -> int:
    if sql:
        X = a.session.sql(f"SELECT * FROM {TAB_VIEW}_{a.rows}")
    else:
        X = a.session.read.parquet(tabular_stage_path(a.rows))
    return _squall_job(a, timings, TAB_MODEL, X, job={"function_name": "predict_proba"})


def _settle(
    pid: int, idle_cpu_s: float = 0.05, window_s: float = 0.5, limit_s: float = 30.0
) -> None:
    """Wait (at most ``limit_s``) until the process tree of ``pid`` uses under
    ``idle_cpu_s`` CPU seconds in a ``window_s`` window."""
    import psutil

    def cpu() -> float:
        total = 0.0
        try:
            procs = [psutil.Process(pid), *psutil.Process(pid).children(recursive=True)]
        except psutil.NoSuchProcess:
            return 0.0
        for p in procs:
            try:
                t = p.cpu_times()
                total += t.user + t.system
            except psutil.NoSuchProcess:
                pass
        return total

    deadline = time.monotonic() + limit_s
    before = cpu()
    while time.monotonic() < deadline:
        time.sleep(window_s)
        now = cpu()
        if now - before < idle_cpu_s:
            return
        before = now


def run_t_squall_ray(
    a: argparse.Namespace, timings: dict[str, Any], shared_fs: bool, warm: bool = False
) -> int:
    """T-squall-stage on a Ray pool of this machine; the cluster starts before the timed
    call (run_batch -> first batch is measured on a running cluster) and stops after.
    ``warm``: the pool keeps its workers, and a small job before the timed call leaves
    them waiting for it."""
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    from tests.raycluster import start_cluster, stop_cluster

    t = time.time()
    cluster = start_cluster(num_cpus=_cores())
    timings["ray_init_s"] = time.time() - t
    # "Already running" means settled: a new head spends its first seconds starting
    # its agents and prestarting workers, on the same cores the job would use.
    t = time.time()
    _settle(cluster.pid)
    timings["ray_settle_s"] = time.time() - t
    try:
        a.session.drop_compute_pool("bench-ray", missing_ok=True)
        a.session.create_compute_pool(
            "bench-ray",
            address=cluster.address,
            shared_fs=shared_fs,
            keep_warm_s=600 if warm else 0,
        )
        job = {"function_name": "predict_proba"}
        if warm:
            # One shard per worker, so that every worker the timed job starts is warm.
            t = time.time()
            X = _rows(a, _cores())
            warmup = {**job, "shard_rows": 1}
            _squall_job(a, {}, TAB_MODEL, X, job=warmup, compute_pool="bench-ray")
            timings["warmup_job_s"] = time.time() - t
        X = a.session.read.parquet(tabular_stage_path(a.rows))
        return _squall_job(a, timings, TAB_MODEL, X, job=job, compute_pool="bench-ray")
    finally:
        t = time.time()
        stop_cluster(cluster)
        timings["ray_shutdown_s"] = time.time() - t


def run_f_squall(a: argparse.Namespace, timings: dict[str, Any], decoded: bool = False) -> int:
    import squall
    from squall.batch import FileEncoding, InputFormat, InputSpec

    X = squall.list_stage_files(f"@{STAGE}/images/", column_name=FILE_COLUMN)
    how: dict[str, Any] = {"input_format": InputFormat.FULL_STAGE_PATH}
    if decoded:
        how.update(convert_to=FileEncoding.IMAGE, image_mode="RGB", image_size=None)
    else:
        how.update(convert_to=FileEncoding.RAW_BYTES)
    model = IMG_MODEL_DECODED if decoded else IMG_MODEL
    spec = InputSpec(column_handling={FILE_COLUMN: how})
    return _squall_job(a, timings, model, X, input_spec=spec)


def _rows(a: argparse.Namespace, count: int) -> Any:
    import pyarrow.parquet as pq

    first = tabular_files(tabular_dir(a.data, a.rows))[0]
    return pq.ParquetFile(first).read_row_group(0).slice(0, count).to_pandas()


def run_s_1row(a: argparse.Namespace, timings: dict[str, Any]) -> int:
    return _squall_job(a, timings, TAB_MODEL, _rows(a, 1), job={"function_name": "predict_proba"})


# --- entry point ------------------------------------------------------------------------------
def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("name")
    ap.add_argument("--data", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--rows", type=int, required=True)
    ap.add_argument("--label", default=None, help="names squall's output folder")
    ap.add_argument("--ray-tmp", default="/tmp/squall-bench-ray")
    a = ap.parse_args()
    a.label = a.label or a.name
    timings: dict[str, Any] = {"start_to_main_s": time.time() - T0}
    t = time.time()
    # Imports first, so work_s is the pipeline; wall time (measured outside) includes them.
    import numpy  # noqa: F401
    import pyarrow.dataset
    import pyarrow.parquet  # noqa: F401

    if "ray" in a.name:
        import ray.data  # noqa: F401
    if "daft" in a.name:
        import daft  # noqa: F401
    if "squall" in a.name or a.name.startswith("S-"):
        _squall_session(a)
    else:
        import PIL.Image  # noqa: F401
        import sklearn.linear_model  # noqa: F401
    timings["import_s"] = time.time() - t
    t = time.time()
    rows: Any = None
    if a.name == "T-limit":
        rows = run_t_limit(a, timings)
    elif a.name in ("T-limit-stream", "T-copy"):
        rows = run_t_limit_stream(a, timings, model=a.name == "T-limit-stream")
    elif a.name == "T-daft":
        rows = daft_pipelines.run_t_daft(a, timings)
    elif a.name in ("F-daft", "F-daft-native"):
        rows = daft_pipelines.run_f_daft(a, timings, native=a.name == "F-daft-native")
    elif a.name == "T-squall-stage":
        rows = run_t_squall(a, timings, sql=False)
    elif a.name == "T-squall-sql":
        rows = run_t_squall(a, timings, sql=True)
    elif a.name in ("T-squall-ray", "T-squall-ray-ship", "T-squall-ray-warm"):
        shared_fs = a.name != "T-squall-ray-ship"
        rows = run_t_squall_ray(a, timings, shared_fs, warm=a.name == "T-squall-ray-warm")
    elif a.name == "T-ray":
        run_t_ray(a, timings)
    elif a.name == "F-limit":
        rows = run_f_limit(a, timings)
    elif a.name in ("F-squall", "F-squall-decoded"):
        rows = run_f_squall(a, timings, decoded=a.name == "F-squall-decoded")
    elif a.name in ("F-ray", "F-ray-manifest"):
        run_f_ray(a, timings, manifest=a.name == "F-ray-manifest")
    elif a.name == "S-1row":
        rows = run_s_1row(a, timings)
    else:
        sys.exit(f"unknown pipeline {a.name}")
    timings.setdefault("work_s", time.time() - t)
    timings["rows_reported"] = rows
    print("RESULT " + json.dumps(timings), flush=True)


if __name__ == "__main__":
    main()
