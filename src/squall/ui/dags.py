"""The dashboard's DAG pages: deployed DAGs, their graphs and run grids, through squall.tasks."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from squall.errors import NotFoundError
from squall.ui.data import plain

if TYPE_CHECKING:
    from squall.session import Session

__all__ = ["dag_action", "dag_run", "dags_json"]

RUNS_SHOWN = 25


def _run(r: Any) -> dict[str, Any]:
    return plain(
        {
            "run_id": r.run_id,
            "state": r.state,
            "scheduled_time": r.scheduled_time,
            "started": r.query_start_time,
            "completed": r.completed_time,
            "trigger": r.trigger,
            "first_error_task_name": r.first_error_task_name,
            "first_error_message": r.first_error_message,
        }
    )


def dags_json(session: Session) -> dict[str, Any]:
    """Each deployed DAG: schedule, state, next run, task graph, and its latest runs as a grid."""
    from squall.tasks import DAGOperation

    op = DAGOperation(session)
    out = []
    for listed in op.list_dags():
        name = listed["name"]
        info = op.describe(name)
        runs = [r for r in op.get_current_dag_runs(name) if r.run_id is not None]
        runs += op.get_complete_dag_runs(name, error_only=False)
        runs = sorted(runs, key=lambda r: r.run_id or 0, reverse=True)[:RUNS_SHOWN]
        grid = []
        for r in runs:
            tasks = {t["task"]: t["state"] for t in op.get_task_runs(r)}
            grid.append({**_run(r), "tasks": tasks})
        out.append(
            plain(
                {
                    "name": info["name"],
                    "schedule": info["schedule"],
                    "state": info["state"],
                    "next_scheduled_time": info["next_scheduled_time"],
                    "comment": info.get("comment"),
                    "graph": info["graph"],
                    "runs": grid,
                }
            )
        )
    return {"dags": out}


def dag_run(session: Session, run_id: int) -> dict[str, Any]:
    """One run and its tasks: state, attempt, return value, error, job, times."""
    from squall.tasks import DAGOperation

    op = DAGOperation(session)
    run = op.get_run(run_id)
    return {"run": _run(run), "dag": run.root_task_name, "tasks": plain(op.get_task_runs(run_id))}


def dag_action(session: Session, name: str, verb: str) -> dict[str, Any]:
    """Run a DAG now, suspend or resume its schedule."""
    from squall.tasks import DAGOperation

    op = DAGOperation(session)
    if verb == "run":
        return {"run": _run(op.run(name))}
    if verb == "suspend":
        op.suspend(name)
    elif verb == "resume":
        op.resume(name)
    else:
        raise NotFoundError(f"no action {verb!r} on a DAG: run, suspend or resume")
    return {"name": name, "state": op.describe(name)["state"]}
