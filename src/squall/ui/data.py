"""What the dashboard shows, gathered through squall's public API as JSON-ready dicts."""

from __future__ import annotations

import datetime as dt
import math
import time
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from squall.errors import InvalidArgumentError

if TYPE_CHECKING:
    from squall.session import Session

__all__ = [
    "IMAGE_TYPES",
    "browse_stage",
    "error_rows",
    "job_detail",
    "job_logs",
    "jobs_page",
    "models",
    "plain",
    "preview_file",
    "read_image",
    "stages",
]

IMAGE_TYPES = {
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
    ".webp": "image/webp",
    ".bmp": "image/bmp",
}
MAX_IMAGE_BYTES = 20 * 1024 * 1024
MAX_LISTED = 1000
PREVIEW_ROWS = 20


def plain(value: Any) -> Any:
    """A value JSON can carry: timestamps as epoch seconds, NaN as None, bytes shortened."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return None if math.isnan(value) else value
    if isinstance(value, dt.datetime):  # pandas' Timestamp and NaT too
        try:
            return float(value.timestamp())
        except ValueError:  # NaT
            return None
    if isinstance(value, bytes):
        return f"<{len(value):,} bytes>"
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if hasattr(value, "item"):  # numpy scalars
        return plain(value.item())
    if hasattr(value, "tolist"):  # numpy arrays
        return plain(value.tolist())
    return str(value)


def _rate(row: dict[str, Any], now: float) -> tuple[float | None, float | None]:
    """rows/s and ETA (seconds) of a job listed by ``list_jobs``."""
    started = row.get("started_time")
    if not started:
        return None, None
    end = row.get("completed_time") or now
    elapsed = end - started
    done = row.get("rows_done") or 0
    rate = done / elapsed if elapsed > 0 and done else None
    eta = None
    if row["status"] == "DONE":
        eta = 0.0
    elif rate and row["status"] in ("PENDING", "RUNNING"):
        eta = max(0, (row.get("rows_total") or 0) - done) / rate
    return rate, eta


# -- jobs ------------------------------------------------------------------------------------
def jobs_page(
    session: Session,
    status: str | None = None,
    page: int = 1,
    per_page: int = 50,
    model: str | None = None,
    version: str | None = None,
) -> dict[str, Any]:
    """One page of the job list, newest first; ``has_more`` when another page follows."""
    from squall.jobs import list_jobs

    if page < 1 or not 1 <= per_page <= 500:
        raise InvalidArgumentError(f"page {page!r} / per_page {per_page!r} out of range")
    df = list_jobs(
        limit=per_page + 1,
        offset=(page - 1) * per_page,
        status=status or None,
        model=model,
        version=version,
        session=session,
    )
    now = time.time()
    rows = [plain(r) for r in df.to_dict(orient="records")]
    for r in rows:
        r["rows_per_second"], r["eta_seconds"] = _rate(r, now)
    return {
        "jobs": rows[:per_page],
        "page": page,
        "per_page": per_page,
        "has_more": len(rows) > per_page,
        "status": status or None,
    }


def _throughput(attempts: list[dict[str, Any]], start: float | None) -> list[list[float]]:
    """[time since start, rows/s] points from the shards' finished attempts, for the chart."""
    done = sorted((a["ended"], a["rows"] or 0) for a in attempts if a["status"] == "DONE")
    if not done or start is None:
        return []
    end = done[-1][0]
    span = max(end - start, 1e-3)
    buckets = min(60, max(1, len(done)))
    width = span / buckets
    totals = [0.0] * buckets
    for ended, rows in done:
        totals[min(buckets - 1, int((ended - start) / width))] += rows
    return [[round((i + 1) * width, 3), rows / width] for i, rows in enumerate(totals)]


def job_detail(session: Session, name: str) -> dict[str, Any]:
    """A job's record, spec, progress, shards, attempts and output files."""
    from squall.jobs import get_job

    job = get_job(name, session)
    info = job.info()
    progress = job.progress
    attempts = job.shard_attempts()
    out: dict[str, Any] = {
        "job": plain({k: info[k] for k in info if k not in ("heartbeat", "cancel_requested")}),
        "spec": plain(job.spec()),
        "progress": plain(asdict(progress)) | {"fraction": progress.fraction},
        "shards": plain(job.shards()),
        "attempts": plain(attempts),
        "throughput": _throughput(attempts, info.get("started_time")),
        "outputs": [],
    }
    location = info.get("output_location")
    if location:
        try:
            files = session.list_stage(location)
        except (FileNotFoundError, LookupError):
            files = []
        # Hidden names are parts still being written, or left by a dead attempt.
        shown = [f for f in files if not f.name.startswith(".")][:MAX_LISTED]
        out["outputs"] = [
            {"path": f.path, "name": f.relative_path[len(_rel(location)) :], "size": f.size}
            for f in shown
        ]
    return out


def _rel(location: str) -> str:
    rel = location.partition("/")[2]
    return rel if not rel or rel.endswith("/") else rel + "/"


def job_logs(session: Session, name: str, limit: int = 200) -> dict[str, Any]:
    from squall.jobs import get_job

    job = get_job(name, session)
    return {"lines": job.get_logs(limit=limit).splitlines(), "status": job.status}


def error_rows(session: Session, name: str, limit: int = PREVIEW_ROWS) -> dict[str, Any]:
    """Up to ``limit`` output rows whose ``_ERROR`` is set, and how many failed in all."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    from squall.jobs import get_job

    job = get_job(name, session)
    total = job.progress.error_rows
    sample: list[pa.Table] = []
    found = 0
    if total:
        for f in session.list_stage(job.output_location):
            if found >= limit or not f.name.endswith(".parquet"):
                continue
            stage, rel = session.stages.resolve(f.path)
            with stage.open(rel) as fh:
                pf = pq.ParquetFile(fh)
                if "_ERROR" not in pf.schema_arrow.names:
                    continue
                for batch in pf.iter_batches(batch_size=4096):
                    bad = batch.filter(pc.is_valid(batch.column("_ERROR")))
                    if bad.num_rows:
                        sample.append(pa.Table.from_batches([bad.slice(0, limit - found)]))
                        found += min(bad.num_rows, limit - found)
                    if found >= limit:
                        break
    table = pa.concat_tables(sample, promote_options="default") if sample else None
    return {"error_rows": total, **_table_json(table)}


# -- models ----------------------------------------------------------------------------------
def models(session: Session) -> dict[str, Any]:
    """Every model with its versions, their functions and signatures, and recent jobs."""
    from squall.registry import Registry

    out = []
    for model in Registry(session).models():
        versions = []
        defaults = {
            r["name"]: bool(r["is_default"])
            for r in model.show_versions().to_dict(orient="records")
        }
        for mv in model.versions():
            functions = [
                {"name": f["name"], "kind": f["kind"], "signature": f["signature"].to_dict()}
                for f in mv.show_functions()
            ]
            jobs = jobs_page(session, per_page=10, model=mv.model_name, version=mv.version_name)[
                "jobs"
            ]
            versions.append(
                {
                    "name": mv.version_name,
                    "model_type": mv.model_type,
                    "comment": mv.comment,
                    "is_default": defaults.get(mv.version_name, False),
                    "functions": plain(functions),
                    "jobs": [
                        {k: j[k] for k in ("name", "status", "created_time", "rows_total")}
                        for j in jobs
                    ],
                }
            )
        out.append({"name": model.name, "comment": model.comment, "versions": versions})
    return {"models": out}


# -- stages ----------------------------------------------------------------------------------
def stages(session: Session) -> dict[str, Any]:
    return {
        "stages": [
            {"name": i.name, "kind": i.kind, "url": i.url, "encryption": i.encryption}
            for i in session.list_stages()
        ]
    }


def browse_stage(session: Session, path: str) -> dict[str, Any]:
    """The folders and files directly under a stage path (``@name`` or ``@name/dir/``)."""
    from squall.stages.paths import parse_stage_path

    sp = parse_stage_path(path)
    base = _folder(sp.stage, sp.path)
    folders: dict[str, int] = {}
    files: list[dict[str, Any]] = []
    for f in session.list_stage(base):
        rest = f.path[len(base) :]
        head, slash, _ = rest.partition("/")
        if slash:
            folders[head] = folders.get(head, 0) + 1
        elif len(files) < MAX_LISTED:
            files.append(
                {"name": rest, "path": f.path, "size": f.size, "modified": plain(f.last_modified)}
            )
    return {
        "path": base,
        "parent": None if not sp.path else _folder(sp.stage, sp.parent.path),
        "folders": [
            {"name": k, "path": base + k + "/", "files": v} for k, v in sorted(folders.items())
        ],
        "files": files,
        "truncated": len(files) >= MAX_LISTED,
    }


def _folder(stage: str, rel: str) -> str:
    return f"@{stage}/" + (f"{rel}/" if rel else "")


def _table_json(table: Any) -> dict[str, Any]:
    if table is None:
        return {"columns": [], "rows": []}
    columns = table.column_names
    rows = [[plain(r[c]) for c in columns] for r in table.to_pylist()]
    return {"columns": columns, "rows": rows}


def preview_file(session: Session, path: str, rows: int = PREVIEW_ROWS) -> dict[str, Any]:
    """A Parquet file's schema, row count and first rows, or what kind of file it is."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    stage, rel = session.stages.resolve(path)
    name = rel.rsplit("/", 1)[-1]
    suffix = "." + name.rsplit(".", 1)[-1].lower() if "." in name else ""
    if suffix != ".parquet":
        size = stage.info_of(rel).size  # the stage's rules: a missing or escaping path raises
        return {"path": path, "kind": "image" if suffix in IMAGE_TYPES else "other", "size": size}
    with stage.open(rel) as fh:
        pf = pq.ParquetFile(fh)
        schema = [{"name": f.name, "type": str(f.type)} for f in pf.schema_arrow]
        batches = []
        got = 0
        for batch in pf.iter_batches(batch_size=rows):
            batches.append(batch.slice(0, rows - got))
            got += batches[-1].num_rows
            if got >= rows:
                break
        table = pa.Table.from_batches(batches, schema=pf.schema_arrow)
        total = pf.metadata.num_rows
    return {
        "path": path,
        "kind": "parquet",
        "schema": schema,
        "num_rows": total,
        **_table_json(table),
    }


def read_image(session: Session, path: str) -> tuple[bytes, str]:
    """An image file's bytes and media type; other kinds of files are refused."""
    stage, rel = session.stages.resolve(path)
    name = rel.rsplit("/", 1)[-1]
    media = IMAGE_TYPES.get("." + name.rsplit(".", 1)[-1].lower()) if "." in name else None
    if media is None:
        raise InvalidArgumentError(f"{path!r} is not an image the dashboard shows")
    with stage.open(rel) as fh:
        data = fh.read(MAX_IMAGE_BYTES + 1)
    if len(data) > MAX_IMAGE_BYTES:
        raise InvalidArgumentError(f"{path!r} is larger than {MAX_IMAGE_BYTES:,} bytes")
    return data, media
