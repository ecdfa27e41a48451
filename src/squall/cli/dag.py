"""``squall dag ...`` and ``squall scheduler ...``: DAGs, their runs, and the scheduler.

squall dag ls | show NAME | run NAME [--wait] | runs NAME | cancel RUN_ID
squall dag suspend NAME | resume NAME | drop NAME
squall scheduler [--detach] | status | stop
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from typing import Any

from squall.cli.output import print_json, print_table

__all__ = ["register"]

_RUN_COLUMNS = [
    "run_id",
    "state",
    "trigger",
    "scheduled_time",
    "query_start_time",
    "completed_time",
    "attempt_number",
    "first_error_task_name",
    "first_error_message",
]


def _operation(args: argparse.Namespace) -> Any:
    import squall
    from squall.tasks import DAGOperation

    return DAGOperation(squall.connect(args.home))


def _run_row(run: Any) -> dict[str, Any]:
    return dataclasses.asdict(run)


def cmd_dag(args: argparse.Namespace) -> int:
    op = _operation(args)
    if args.action == "ls":
        rows = op.list_dags()
        cols = ["name", "schedule", "state", "next_scheduled_time", "tasks", "comment"]
        print_json(rows) if args.json else print_table(rows, cols)
        return 0
    if args.action == "show":
        info = op.describe(args.name)
        if args.json:
            print_json(info)
            return 0
        for key in ("name", "schedule", "state", "next_scheduled_time", "config", "comment"):
            value = info[key]
            print(f"{key:>20}: {'' if value is None else value}")
        print()
        rows = [dict(t, after=", ".join(t["predecessors"])) for t in info["graph"]]
        print_table(rows, ["name", "kind", "after", "definition"])
        return 0
    if args.action == "runs":
        runs = op.get_current_dag_runs(args.name) + op.get_complete_dag_runs(
            args.name, error_only=False
        )
        rows = [_run_row(r) for r in runs][: args.limit if args.limit > 0 else None]
        print_json(rows) if args.json else print_table(rows, _RUN_COLUMNS)
        return 0
    if args.action == "run":
        run = op.run(args.name)
        print(f"run {run.run_id} of DAG {run.root_task_name} started", flush=True)
        if not args.wait:
            return 0
        try:
            run = op.wait(run, timeout=args.timeout)
        except KeyboardInterrupt:
            print(f"stopped watching; run {run.run_id} goes on")
            return 130
        _print_run_end(op, run)
        return 0 if run.state == "SUCCEEDED" else 1
    if args.action == "cancel":
        before = op.get_run(args.run_id)
        if before.state in ("SUCCEEDED", "FAILED", "CANCELLED"):
            print(f"run {before.run_id} already ended {before.state}; nothing to cancel")
            return 0
        run = op.cancel(args.run_id)
        deadline = time.monotonic() + args.timeout
        while run.state not in ("SUCCEEDED", "FAILED", "CANCELLED"):
            if time.monotonic() > deadline:
                break
            time.sleep(0.1)
            run = op.get_run(run.run_id)
        print(f"run {run.run_id} {run.state}")
        return 0 if run.state == "CANCELLED" else 1
    if args.action == "suspend":
        op.suspend(args.name)
        print(f"DAG {args.name} suspended")
        return 0
    if args.action == "resume":
        op.resume(args.name)
        print(f"DAG {args.name} resumed")
        return 0
    if args.action == "drop":
        op.drop(args.name)
        print(f"DAG {args.name} dropped")
        return 0
    raise AssertionError(args.action)


def _print_run_end(op: Any, run: Any) -> None:
    print(f"run {run.run_id} {run.state}")
    rows = op.get_task_runs(run)
    print_table(rows, ["task", "state", "attempt", "job_name", "return_value", "error"])


def cmd_scheduler(args: argparse.Namespace) -> int:
    import squall
    from squall.tasks import scheduler
    from squall.tasks.runner import configure_logging

    session = squall.connect(args.home)
    home = session.home
    action = args.action or "run"
    if action == "status":
        info = scheduler.scheduler_status(home)
        if args.json:
            print_json(info)
        elif info is None:
            print("no scheduler is running for this workspace")
        else:
            up = time.time() - info["started"]
            print(f"scheduler running: pid {info['pid']}, up {up:.0f} s")
            print("  log: dags/logs/scheduler.log in the workspace")
        return 0
    if action == "stop":
        pid = scheduler.stop_scheduler(home, timeout=args.timeout)
        print("no scheduler is running" if pid is None else f"scheduler {pid} stopped")
        return 0
    if args.detach:
        pid = scheduler.start_detached(home)
        print(f"scheduler started in the background: pid {pid}")
        print("  log: dags/logs/scheduler.log in the workspace; stop: squall scheduler stop")
        return 0
    configure_logging()
    scheduler.serve_forever(session)
    return 0


def register(sub: Any) -> None:
    """Add ``dag`` and ``scheduler`` to the ``squall`` command's subcommands."""
    d = sub.add_parser("dag", help="task DAGs: deployed pipelines and their runs")
    d_sub = d.add_subparsers(dest="action", required=True)
    x = d_sub.add_parser("ls", help="list deployed DAGs")
    x.add_argument("--json", action="store_true")
    x = d_sub.add_parser("show", help="a DAG's schedule, config and tasks")
    x.add_argument("name")
    x.add_argument("--json", action="store_true")
    x = d_sub.add_parser("runs", help="a DAG's runs, newest first")
    x.add_argument("name")
    x.add_argument("--limit", type=int, default=20)
    x.add_argument("--json", action="store_true")
    x = d_sub.add_parser("run", help="start a run of a DAG now")
    x.add_argument("name")
    x.add_argument("--wait", action="store_true", help="wait for the run to end")
    x.add_argument("--timeout", type=float, default=None, help="with --wait: give up after S")
    x = d_sub.add_parser("cancel", help="cancel a run (and its running job)")
    x.add_argument("run_id", type=int)
    x.add_argument("--timeout", type=float, default=60, help="seconds to wait for CANCELLED")
    for action, text in (
        ("suspend", "stop scheduling a DAG"),
        ("resume", "schedule a suspended DAG again"),
        ("drop", "remove a DAG and its runs"),
    ):
        x = d_sub.add_parser(action, help=text)
        x.add_argument("name")
    d.set_defaults(func=cmd_dag)

    s = sub.add_parser("scheduler", help="run deployed DAGs on their schedules (one per workspace)")
    s.add_argument("action", nargs="?", choices=["status", "stop"], help="none: run it")
    s.add_argument("--detach", action="store_true", help="run in the background")
    s.add_argument("--json", action="store_true", help="with status: as JSON")
    s.add_argument("--timeout", type=float, default=60, help="with stop: seconds to wait")
    s.set_defaults(func=cmd_scheduler)
