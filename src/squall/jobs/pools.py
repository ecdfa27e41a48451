"""A job's compute pool: resolved from the catalog into an engine and its executor context.

The supervisor builds its executor from this; ``run_batch`` calls the engine's preflight
with the same context before anything of the job is written.
"""

from __future__ import annotations

import json
from pathlib import Path

from squall.batch.plan import JobPlan
from squall.catalog.db import Catalog
from squall.catalog.pools import get_pool
from squall.compute.base import ExecutorContext, executor_class

__all__ = ["model_kind", "pool_context", "preflight"]


def model_kind(plan: JobPlan) -> str:
    """The kind of the job's model (``sklearn``, ...), or "" when it cannot be read (the
    workers read the model themselves, and report why)."""
    try:
        manifest = Path(plan.model_path) / "manifest.json"
        return str(json.loads(manifest.read_text())["model_type"])
    except Exception:
        return ""


def pool_context(
    catalog: Catalog, plan: JobPlan, job_id: str, log_dir: str, plan_json: str
) -> tuple[str, ExecutorContext]:
    """The engine of the job's compute pool and the context its executor is built from."""
    pool = get_pool(catalog, plan.compute_pool)
    home = str(Path(catalog.path).parent)
    shared_fs = bool(pool.options.get("shared_fs", True))
    keep_warm_s = float(pool.options.get("keep_warm_s", 0.0))
    context = ExecutorContext(
        home,
        job_id,
        log_dir,
        plan_json,
        model_kind(plan),
        pool.name,
        pool.address,
        shared_fs,
        keep_warm_s,
    )
    return pool.engine, context


def preflight(catalog: Catalog, plan: JobPlan) -> None:
    """Fail before the job is written if its compute pool cannot run it (unknown,
    unreachable, or without the resources the plan asks for)."""
    engine, context = pool_context(catalog, plan, "", "", plan.to_json())
    executor_class(engine).preflight(context)
