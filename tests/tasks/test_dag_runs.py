"""DAG runs, each in a real runner process: SQL, callables and batch jobs, passing values on."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

import squall
from squall import jobs
from squall.batch import InputSpec, JobSpec, OutputSpec
from squall.model import custom_model
from squall.registry import Registry
from squall.tasks import DAG, BatchInferenceTask, DAGOperation, DAGTask, TaskContext
from tests.e2e.jobtools import Sleepy, poll
from tests.e2e.models import frame
from tests.tasks.conftest import model_version


def report(session: squall.Session) -> None:
    ctx = TaskContext(session)
    out = json.loads(ctx.get_predecessor_return_value("infer"))["output_stage_location"]
    rows = session.read.parquet(out).count()
    ctx.set_return_value(f"{rows} rows, min_rows={ctx.get_task_graph_config()['min_rows']}")


def test_sql_then_batch_inference_then_a_callable(ws: squall.Session) -> None:
    with DAG("nightly", config={"min_rows": 10}) as dag:
        prep = DAGTask(
            "prep", "CREATE OR REPLACE TABLE todays AS SELECT * FROM numbers WHERE x < 12"
        )
        infer = BatchInferenceTask(
            "infer",
            model_version=model_version(ws),
            X=ws.sql("SELECT * FROM todays"),
            input_spec=InputSpec(params={"factor": 3.0}),
            output_spec=OutputSpec(base_stage_location="@results/nightly/"),
            job_spec=JobSpec(job_name_prefix="NIGHTLY"),
        )
        rep = DAGTask("report", definition=report)
        prep >> infer >> rep
    op = DAGOperation(ws)
    op.deploy(dag)
    run = op.wait(op.run(dag), timeout=120)
    assert run.state == "SUCCEEDED", run
    assert run.first_error_task_name is None and run.completed_time >= run.query_start_time
    tasks = {t["task"]: t for t in op.get_task_runs(run)}
    assert [tasks[n]["state"] for n in ("prep", "infer", "report")] == ["SUCCEEDED"] * 3
    assert tasks["report"]["return_value"] == "12 rows, min_rows=10"
    location = json.loads(tasks["infer"]["return_value"])["output_stage_location"]
    job_name = tasks["infer"]["job_name"]
    assert job_name.startswith("NIGHTLY_") and location == f"@results/nightly/{job_name}/"
    files = [f.path for f in ws.list_stage(location)]
    assert any(p.endswith("_SUCCESS") for p in files)
    out = ws.read.parquet(location).to_pandas().sort_values("id")
    assert out["doubled"].tolist() == [3.0 * x for x in range(12)]
    assert list(jobs.list_jobs(limit=0, session=ws)["name"]) == [job_name]
    assert [r.run_id for r in op.get_complete_dag_runs(dag, error_only=False)] == [run.run_id]
    assert op.get_complete_dag_runs(dag) == []  # error_only defaults to True, as in Snowflake


def explode(session: squall.Session) -> None:
    raise RuntimeError("the source table is empty")


def finalize(session: squall.Session) -> None:
    session.sql("CREATE OR REPLACE TABLE finalized AS SELECT 1 AS done")


def test_a_failing_task_fails_the_run_skips_successors_and_runs_the_finalizer(
    ws: squall.Session,
) -> None:
    with DAG("breaks", suspend_task_after_num_failures=1) as dag:
        a = DAGTask("a", "CREATE OR REPLACE TABLE a_ran AS SELECT 1 AS x")
        b = DAGTask("b", explode)
        c = DAGTask("c", "CREATE OR REPLACE TABLE c_ran AS SELECT 1 AS x")
        DAGTask("fin", finalize, is_finalizer=True)
        a >> b >> c
    op = DAGOperation(ws)
    op.deploy(dag)
    run = op.wait(op.run(dag), timeout=120)
    assert run.state == "FAILED"
    assert run.first_error_task_name == "b"
    assert run.first_error_message == "RuntimeError: the source table is empty"
    states = {t["task"]: t["state"] for t in op.get_task_runs(run)}
    assert states == {"a": "SUCCEEDED", "b": "FAILED", "c": "SKIPPED", "fin": "SUCCEEDED"}
    assert "c_ran" not in ws.warehouse.list_tables()
    assert ws.table("finalized").count() == 1
    assert [r.run_id for r in op.get_complete_dag_runs(dag)] == [run.run_id]
    assert op.describe(dag)["state"] == "SUSPENDED"  # suspend_task_after_num_failures=1


def fails_once(session: squall.Session) -> None:
    session.sql("CREATE TABLE IF NOT EXISTS calls (n INTEGER)")
    session.sql("INSERT INTO calls VALUES (1)")
    if session.table("calls").count() == 1:
        raise RuntimeError("first try fails")
    TaskContext(session).set_return_value("ok on try 2")


def test_auto_retry_reruns_from_the_failed_task(ws: squall.Session) -> None:
    with DAG("retry", task_auto_retry_attempts=1) as dag:
        a = DAGTask(
            "a", "CREATE TABLE IF NOT EXISTS a_runs (n INTEGER); INSERT INTO a_runs VALUES (1)"
        )
        a >> DAGTask("b", fails_once)
    op = DAGOperation(ws)
    op.deploy(dag)
    run = op.wait(op.run(dag), timeout=120)
    assert run.state == "SUCCEEDED" and run.attempt_number == 2
    assert ws.table("a_runs").count() == 1  # the task that succeeded did not run again
    tasks = {t["task"]: t for t in op.get_task_runs(run)}
    assert tasks["b"]["attempt"] == 2 and tasks["b"]["return_value"] == "ok on try 2"


def decide() -> str:  # a callable may also take no argument
    return "skip"


def test_condition_on_a_predecessor_value_and_func_return_value(ws: squall.Session) -> None:
    with DAG("cond", use_func_return_value=True) as dag:
        a = DAGTask("a", decide)
        yes = DAGTask(
            "yes", "SELECT 1", condition="SYSTEM$GET_PREDECESSOR_RETURN_VALUE('a') = 'run'"
        )
        no = DAGTask(
            "no", "SELECT 1", condition="SYSTEM$GET_PREDECESSOR_RETURN_VALUE('A') = 'skip'"
        )
        after = DAGTask("after", "SELECT 1")
        a >> [yes, no]
        yes >> after
    op = DAGOperation(ws)
    op.deploy(dag)
    run = op.wait(op.run(dag), timeout=120)
    states = {t["task"]: t["state"] for t in op.get_task_runs(run)}
    assert run.state == "SUCCEEDED"
    assert states == {"a": "SUCCEEDED", "yes": "SKIPPED", "no": "SUCCEEDED", "after": "SKIPPED"}


def test_a_failed_job_fails_its_task(ws: squall.Session) -> None:
    with DAG("badjob") as dag:
        infer = BatchInferenceTask(
            "infer",
            model_version=model_version(ws, "failing"),
            X=ws.table("numbers"),
            output_spec=OutputSpec(base_stage_location="@results/bad/"),
        )
        infer >> DAGTask("after", "SELECT 1")
    op = DAGOperation(ws)
    op.deploy(dag)
    run = op.wait(op.run(dag), timeout=120)
    assert run.state == "FAILED" and run.first_error_task_name == "infer"
    assert "ended FAILED" in run.first_error_message
    assert "unlucky row x == 13" in run.first_error_message
    states = {t["task"]: t["state"] for t in op.get_task_runs(run)}
    assert states == {"infer": "FAILED", "after": "SKIPPED"}


def _job(session: squall.Session, name: str) -> jobs.Job | None:
    try:
        return jobs.get_job(name, session=session)
    except LookupError:  # recorded in the run before it is submitted
        return None


def slow_sleep(session: squall.Session) -> None:
    time.sleep(30)


def test_a_task_past_its_timeout_fails(ws: squall.Session) -> None:
    with DAG("slow", user_task_timeout_ms=500) as dag:
        DAGTask("sleeps", slow_sleep)
    op = DAGOperation(ws)
    op.deploy(dag)
    run = op.wait(op.run(dag), timeout=60)
    assert run.state == "FAILED"
    assert "ran past its timeout of 500 ms" in run.first_error_message


def test_cancel_a_run_cancels_its_job(ws: squall.Session, tmp_path: Path) -> None:
    Registry(ws).log_model(
        Sleepy(custom_model.ModelContext()),
        model_name="sleepy",
        version_name="v1",
        sample_input_data=frame(3),
    )
    with DAG("long") as dag:
        infer = BatchInferenceTask(
            "infer",
            model_version=Registry(ws).get_model("sleepy").version("v1"),
            X=ws.table("numbers"),
            input_spec=InputSpec(params={"seconds": 20.0}),
            output_spec=OutputSpec(base_stage_location="@results/long/"),
        )
        infer >> DAGTask("after", "SELECT 1")
    op = DAGOperation(ws)
    op.deploy(dag)
    run = op.run(dag)
    job_name = poll(
        lambda: {t["task"]: t for t in op.get_task_runs(run)}["infer"]["job_name"],
        what="the task's job",
    )
    job = poll(lambda: _job(ws, job_name), what="the job")
    poll(lambda: job.status == "RUNNING", what="the job running")
    op.cancel(run)
    run = op.wait(run, timeout=120)
    assert run.state == "CANCELLED"
    assert job.wait(timeout=60) == "CANCELLED"
    states = {t["task"]: t["state"] for t in op.get_task_runs(run)}
    assert states == {"infer": "CANCELLED", "after": "CANCELLED"}
    with pytest.raises(LookupError):
        op.get_run(12345)


def crash(session: squall.Session) -> None:
    import os

    os._exit(3)  # as a segfault in native code would: no exception, no record


def test_a_run_whose_runner_keeps_dying_fails_after_three_new_runners(ws: squall.Session) -> None:
    from squall.tasks.scheduler import Scheduler

    with DAG("crashes") as dag:
        DAGTask("boom", crash)
    op = DAGOperation(ws)
    op.deploy(dag)
    run = op.run(dag)
    scheduler = Scheduler(ws)  # its loop, driven here one poll at a time

    def ended() -> bool:
        scheduler.poll()
        return op.get_run(run.run_id).state == "FAILED"

    poll(ended, timeout=180, what="the run given up")
    run = op.get_run(run.run_id)
    assert run.first_error_task_name == "boom"
    assert run.first_error_message.startswith("its runner stopped 4 times")
